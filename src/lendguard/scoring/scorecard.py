"""A scorecard learned from outcomes: binning, WoE, selection, logistic regression, points.

`fit_scorecard` bins every candidate feature (`binning.py`), keeps those with enough
information value and not too correlated with a stronger one, fits a logistic regression
of the event on their WoE, drops any feature whose coefficient has the wrong sign (more
WoE must mean fewer bad outcomes) and refits, then turns coefficients into points per bin.
`Scorecard.score` applies it to a frame, vectorised: one `searchsorted` per numeric
feature, one join per categorical one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from lendguard.policy.scoring import ScoringPolicy
from lendguard.scoring.binning import (
    BinningError,
    BinningRules,
    FeatureBins,
    bin_categorical,
    bin_numeric,
)
from lendguard.scoring.scaling import Scale


class ScorecardError(ValueError):
    """Training data or a model the scorecard cannot use; the message says what and where."""


@dataclass
class FeatureCard:
    bins: FeatureBins
    coefficient: float
    points: list[float]  # per bin, the missing bin last

    @property
    def name(self) -> str:
        return self.bins.feature


@dataclass
class Scorecard:
    target: str
    features: list[FeatureCard]
    intercept: float
    scale: Scale
    iv: dict[str, float]  # every candidate's information value
    dropped: dict[str, str]  # candidate -> why it is not in the model
    meta: dict[str, Any] = field(default_factory=dict)

    # ---- applying ---------------------------------------------------------------------------
    def bin_index(self, frame: pl.DataFrame) -> np.ndarray:
        """rows x features: the bin each row falls in (unseen categories go to the missing bin)."""
        missing = [card.name for card in self.features if card.name not in frame.columns]
        if missing:
            raise ScorecardError(f"the data lacks the model's features {missing}")
        return np.column_stack([_bin_of(card.bins, frame[card.name]) for card in self.features]) if self.features else np.zeros((frame.height, 0), int)

    def points(self, frame: pl.DataFrame) -> np.ndarray:
        """rows x features: the points each feature gives each row."""
        return self.points_of(self.bin_index(frame))

    def points_of(self, index: np.ndarray) -> np.ndarray:
        """rows x features: the points of the bins in `index` (from `bin_index`)."""
        return np.column_stack([np.asarray(card.points)[index[:, k]] for k, card in enumerate(self.features)]) if self.features else np.zeros((index.shape[0], 0))

    def score(self, frame: pl.DataFrame) -> np.ndarray:
        return self.points(frame).sum(axis=1)  # the offset is shared among the features' points

    def bad_probability(self, frame: pl.DataFrame) -> np.ndarray:
        return np.asarray(self.scale.bad_probability(self.score(frame)))

    def table(self) -> pl.DataFrame:
        """The scorecard a risk team reviews: feature, bin, rows, event rate, WoE, IV part, points."""
        rows = []
        for card in self.features:
            woe = card.bins.woe()
            for k, label in enumerate(card.bins.labels):
                events, non_events = card.bins.events[k], card.bins.non_events[k]
                total = events + non_events
                rows.append({
                    "feature": card.name, "bin": label, "rows": total, "events": events,
                    "event_rate": events / total if total else None, "woe": float(woe[k]), "points": card.points[k],
                })
        return pl.DataFrame(rows, schema={
            "feature": pl.Utf8, "bin": pl.Utf8, "rows": pl.Int64, "events": pl.Int64, "event_rate": pl.Float64, "woe": pl.Float64, "points": pl.Float64,
        })


def _bin_of(bins: FeatureBins, column: pl.Series) -> np.ndarray:
    last = bins.bins - 1
    if bins.kind == "numeric":
        values = column.cast(pl.Float64).fill_null(np.nan).to_numpy()
        index = np.searchsorted(np.asarray(bins.edges, dtype=np.float64), values, side="right")
        return np.where(np.isnan(values), last, index)
    mapping = {category: k for k, group in enumerate(bins.groups) for category in group}
    return column.cast(pl.Utf8).replace_strict(mapping, default=last, return_dtype=pl.Int64).fill_null(last).to_numpy()


# ---- fitting ------------------------------------------------------------------------------------
def fit_scorecard(
    frame: pl.DataFrame, target: str, policy: ScoringPolicy, features: list[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Scorecard:
    """Learn a scorecard predicting `target` (1 = the event, bad; 0 = good) from `features`
    (default: every other column)."""
    from sklearn.linear_model import LogisticRegression

    began = time.perf_counter()
    if target not in frame.columns:
        raise ScorecardError(f"no target column {target!r}; the data has {frame.columns}")
    y = target_values(frame[target])
    candidates = features or [c for c in frame.columns if c != target]
    unknown = [c for c in candidates if c not in frame.columns]
    if unknown:
        raise ScorecardError(f"no such feature columns {unknown}")
    rules = policy.binning
    binned: dict[str, FeatureBins] = {}
    dropped: dict[str, str] = {}
    for name in candidates:
        column = frame[name]
        feature_rules = BinningRules(
            max_prebins=rules.max_prebins, max_bins=rules.max_bins, min_bin_share=rules.min_bin_share,
            trend=rules.trends.get(name, rules.default_trend), unimodal_gain=rules.unimodal_gain,
        )
        if is_identifier(column):
            dropped[name] = f"looks like an identifier ({column.n_unique():,} distinct values in {column.len():,} rows)"
            continue
        binner = bin_numeric if column.dtype.is_numeric() or column.dtype == pl.Boolean else bin_categorical
        try:
            binned[name] = binner(name, column, y, feature_rules)
        except BinningError as exc:
            dropped[name] = str(exc)
        if progress:
            progress(name)
    iv = {name: bins.iv() for name, bins in binned.items()}
    selection = policy.selection
    ranked = sorted(binned, key=lambda n: -iv[n])
    kept = []
    for name in ranked:
        if iv[name] < selection.iv_min:
            dropped[name] = f"information value {iv[name]:.4f} is below iv_min {selection.iv_min}"
        elif (p_value := binned[name].p_value()) > selection.max_p_value:
            dropped[name] = f"its bins do not separate outcomes significantly (chi-square p = {p_value:.3g} > max_p_value {selection.max_p_value})"
        elif binned[name].bins == 2 and binned[name].events[-1] + binned[name].non_events[-1] == 0:  # one bin, no missing
            dropped[name] = "one bin: the feature does not separate outcomes"
        elif len(kept) >= selection.max_features:
            dropped[name] = f"beyond max_features {selection.max_features}"
        else:
            kept.append(name)
    matrix = np.column_stack([binned[n].woe()[_bin_of(binned[n], frame[n])] for n in kept]) if kept else np.zeros((frame.height, 0))
    column = {name: k for k, name in enumerate(kept)}
    correlation = _correlations(matrix)
    selected: list[str] = []
    for name in kept:  # strongest first: a feature goes when it mirrors a stronger one
        twin = next((s for s in selected if abs(correlation[column[name], column[s]]) > selection.correlation_max), None)
        if twin is not None:
            dropped[name] = f"WoE correlation {correlation[column[name], column[twin]]:.2f} with the stronger {twin!r} exceeds {selection.correlation_max}"
        else:
            selected.append(name)
    if not selected:
        raise ScorecardError(f"no feature is informative enough to build a scorecard: {dropped}")
    while True:
        model = LogisticRegression(C=1e6, max_iter=1000)
        model.fit(matrix[:, [column[n] for n in selected]], y)
        coefficients = model.coef_[0]
        wrong = [(c, n) for c, n in zip(coefficients, selected, strict=True) if c >= 0]
        if not wrong or len(selected) == 1:
            break
        _, worst = max(wrong)
        dropped[worst] = "its coefficient has the wrong sign beside the other features (more WoE must mean fewer events)"
        selected.remove(worst)
    scale = Scale.of(policy.scaling)
    intercept = float(model.intercept_[0])
    cards = [
        FeatureCard(bins=binned[n], coefficient=float(c), points=scale.bin_points(float(c), binned[n].woe(), intercept, len(selected)).tolist())
        for n, c in zip(selected, coefficients, strict=True)
    ]
    return Scorecard(
        target=target, features=cards, intercept=intercept, scale=scale, iv=iv, dropped=dropped,
        meta={"rows": frame.height, "events": int(y.sum()), "fit_seconds": round(time.perf_counter() - began, 3)},
    )


def target_values(column: pl.Series) -> np.ndarray:
    name = column.name
    if not (column.dtype.is_numeric() or column.dtype == pl.Boolean):
        raise ScorecardError(f"the target {name!r} holds {column.dtype} values; it must be 0 (good) / 1 (bad): map it first (e.g. --event VALUE)")
    if column.null_count():
        raise ScorecardError(f"the target {name!r} has {column.null_count():,} missing values")
    values = column.cast(pl.Float64).to_numpy()
    if not np.isin(values, (0.0, 1.0)).all():
        raise ScorecardError(f"the target {name!r} must hold only 0 (good) and 1 (bad), not {sorted(set(values.tolist()))[:5]}")
    if values.min() == values.max():
        raise ScorecardError(f"the target {name!r} is constant ({int(values[0])} for every row): nothing to learn")
    return values.astype(np.int64)


def is_identifier(column: pl.Series) -> bool:
    """A text column with more distinct values than half its rows names rows, not risk."""
    return not (column.dtype.is_numeric() or column.dtype == pl.Boolean) and column.n_unique() > column.len() / 2


def _correlations(matrix: np.ndarray) -> np.ndarray:
    """Pearson correlations of the columns, from one Gram matrix (a constant column correlates 0)."""
    rows = matrix.shape[0]
    mean = matrix.mean(axis=0)
    covariance = matrix.T @ matrix / rows - np.outer(mean, mean)
    spread = np.sqrt(np.clip(np.diag(covariance), 0, None))
    scale = np.outer(spread, spread)
    return np.divide(covariance, scale, out=np.zeros_like(covariance), where=scale > 1e-12)
