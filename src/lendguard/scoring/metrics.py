"""How well a model ranks and how true its probabilities are: AUC, KS, Gini, calibration by
score band and the score distribution. Pure functions over arrays (1 = the event, bad)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Performance:
    rows: int
    events: int
    event_rate: float | None
    auc: float | None  # None where a split lacks one of the outcomes
    ks: float | None
    gini: float | None

    def as_dict(self) -> dict:
        return asdict(self)


def performance(y: np.ndarray, p_bad: np.ndarray) -> Performance:
    """AUC of the predicted event probability, KS (largest gap between the cumulative
    shares of events and non-events) and Gini = 2 AUC - 1."""
    from sklearn.metrics import roc_auc_score, roc_curve

    y = np.asarray(y, dtype=np.int64)
    p_bad = np.asarray(p_bad, dtype=np.float64)
    if len(y) == 0 or y.min() == y.max():
        return Performance(len(y), int(y.sum()), float(y.mean()) if len(y) else None, None, None, None)
    auc = float(roc_auc_score(y, p_bad))
    false_positive, true_positive, _ = roc_curve(y, p_bad)
    return Performance(
        rows=len(y), events=int(y.sum()), event_rate=float(y.mean()), auc=auc,
        ks=float(np.max(true_positive - false_positive)), gini=2 * auc - 1,
    )


def band_edges(scores: np.ndarray, bands: int = 10) -> np.ndarray:
    """Inner edges of `bands` score bands of (about) equal population on `scores`; bands
    are kept from the training population so later populations are compared on the same cuts."""
    quantiles = np.quantile(np.asarray(scores, dtype=np.float64), np.linspace(0, 1, bands + 1)[1:-1])
    return np.unique(np.round(quantiles, 6))


def band_of(scores: np.ndarray, edges: np.ndarray) -> np.ndarray:
    return np.searchsorted(edges, np.asarray(scores, dtype=np.float64), side="right")


def band_labels(edges: np.ndarray) -> list[str]:
    bounds = ["-inf", *(f"{e:g}" for e in edges), "inf"]
    return [f"[{lo}, {hi})" for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]


def calibration(y: np.ndarray, p_bad: np.ndarray, scores: np.ndarray, edges: np.ndarray) -> list[dict]:
    """Per score band: rows, predicted and observed event rate (SPEC: predicted vs observed
    default by score band)."""
    y = np.asarray(y, dtype=np.float64)
    band = band_of(scores, edges)
    size = len(edges) + 1
    rows = np.bincount(band, minlength=size)
    predicted = np.bincount(band, weights=p_bad, minlength=size)
    observed = np.bincount(band, weights=y, minlength=size)
    return [
        {
            "band": label, "rows": int(rows[k]),
            "predicted_event_rate": float(predicted[k] / rows[k]) if rows[k] else None,
            "observed_event_rate": float(observed[k] / rows[k]) if rows[k] else None,
        }
        for k, label in enumerate(band_labels(edges))
    ]


def distribution(scores: np.ndarray, y: np.ndarray, bins: int = 30) -> dict:
    """A histogram of scores, split by outcome, on shared bin edges."""
    scores = np.asarray(scores, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    edges = np.histogram_bin_edges(scores, bins=bins)
    return {
        "edges": [round(float(e), 3) for e in edges],
        "good": np.histogram(scores[y == 0], bins=edges)[0].tolist(),
        "bad": np.histogram(scores[y == 1], bins=edges)[0].tolist(),
    }
