"""Why a score is what it is: the features that cost the most points against their best
bin, largest loss first, with a sentence in Chinese and English. This is the
adverse-action explanation seed 002 and PIPL art. 24 ask for. Vectorised over a population.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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
            zh=f"{feature.name} 处于 {here}，比最佳区间 {best} 少 {loss:.0f} 分。",
            en=f"{feature.name} is in {here}: {loss:.0f} points fewer than its best band, {best}.",
        ))
    return found
