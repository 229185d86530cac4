"""Why a score is what it is: the features that cost the most points against their best
bin, largest loss first, with a sentence in Chinese and English. This is the
adverse-action explanation seed 002 and PIPL art. 24 ask for. Vectorised over a population.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from lendguard.scoring.binning import MISSING_LABEL as MISSING
from lendguard.scoring.scorecard import Scorecard


@dataclass(frozen=True)
class ScoreReason:
    code: str  # "SC:<feature>"
    feature: str
    points_lost: float
    bin: str  # the row's bin
    best_bin: str
    zh: str
    en: str


def reason_ranks(card: Scorecard, points: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """For each row, the indices of its `count` costliest features and the points each
    costs against that feature's best bin (largest first; 0 where nothing is lost)."""
    best = np.array([max(f.points) for f in card.features])
    lost = best[None, :] - points
    order = np.argsort(-lost, axis=1, kind="stable")[:, :count]
    return order, np.take_along_axis(lost, order, axis=1)


def reasons_for_row(card: Scorecard, bin_index: np.ndarray, points: np.ndarray, count: int) -> list[ScoreReason]:
    """One row's reasons (features that cost nothing are left out)."""
    order, lost = reason_ranks(card, points[None, :], count)
    found = []
    for k, loss in zip(order[0], lost[0], strict=True):
        if loss <= 1e-9:
            continue
        feature = card.features[int(k)]
        labels = feature.bins.labels
        here = labels[int(bin_index[k])]
        best = labels[int(np.argmax(feature.points))]
        found.append(ScoreReason(
            code=f"SC:{feature.name}", feature=feature.name, points_lost=round(float(loss), 2), bin=here, best_bin=best,
            zh=f"{feature.name} {'缺失' if here == MISSING else '处于 ' + here}，比最佳区间 {best} 少 {loss:.0f} 分。",
            en=f"{feature.name} {'is missing' if here == MISSING else 'is in ' + here}: {loss:.0f} points fewer than its best band, {best}.",
        ))
    return found


def reason_table(card: Scorecard, index: np.ndarray, points: np.ndarray, count: int) -> pl.DataFrame:
    """Every row's reasons at once: lists `codes`, `reasons_en` and `reasons_zh` (costliest
    first). Built as one long frame of (row, slot) and joined, so a
    million rows need no Python loop per row."""
    rows = points.shape[0]
    if not card.features or rows == 0:
        return pl.DataFrame({"codes": [[]] * rows, "reasons_en": [[]] * rows, "reasons_zh": [[]] * rows},
                            schema={name: pl.List(pl.Utf8) for name in ("codes", "reasons_en", "reasons_zh")})
    order, lost = reason_ranks(card, points, count)
    slots = order.shape[1]
    feature_at = order.ravel()
    bin_at = np.take_along_axis(index, order, axis=1).ravel()
    names = np.array([f.name for f in card.features], dtype=object)
    widest = max(f.bins.bins for f in card.features)
    labels = np.array([[*f.bins.labels, *[""] * (widest - f.bins.bins)] for f in card.features], dtype=object)
    best = np.array([f.bins.labels[int(np.argmax(f.points))] for f in card.features], dtype=object)
    long = pl.DataFrame({
        "row": np.repeat(np.arange(rows), slots), "slot": np.tile(np.arange(slots), rows),
        "feature": names[feature_at].astype(str), "bin": labels[feature_at, bin_at].astype(str), "best": best[feature_at].astype(str),
        "lost": lost.ravel(),
    }).filter(pl.col("lost") > 1e-9)
    missing = pl.col("bin") == MISSING
    where_en = pl.when(missing).then(pl.lit("is missing")).otherwise(pl.lit("is in ") + pl.col("bin"))
    where_zh = pl.when(missing).then(pl.lit("缺失")).otherwise(pl.lit("处于 ") + pl.col("bin"))
    long = long.with_columns(
        (pl.lit("SC:") + pl.col("feature")).alias("code"),
        pl.format("{} {}: {} points fewer than its best band, {}.", "feature", where_en, pl.col("lost").round(0).cast(pl.Int64), "best").alias("en"),
        pl.format("{} {}，比最佳区间 {} 少 {} 分。", "feature", where_zh, "best", pl.col("lost").round(0).cast(pl.Int64)).alias("zh"),
    )
    grouped = long.sort("row", "slot").group_by("row", maintain_order=True).agg(
        pl.col("code").alias("codes"), pl.col("en").alias("reasons_en"), pl.col("zh").alias("reasons_zh"),
    )
    return (
        pl.DataFrame({"row": np.arange(rows)}).join(grouped, on="row", how="left")
        .with_columns(pl.col(name).fill_null([]) for name in ("codes", "reasons_en", "reasons_zh"))
        .drop("row")
    )
