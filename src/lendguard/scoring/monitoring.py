"""Population drift: PSI of the score and CSI of each feature between the training
population and a new one, flagged against the policy's limits (SPEC §1.1).

PSI = sum over bins of (actual share - expected share) x ln(actual share / expected share).
A share of zero is floored at `FLOOR` so an empty bin stays finite. The expected shares come
from the scorecard itself (each feature's training counts per bin, and the score bands kept
at fit time), so monitoring needs the model and the new data only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from lendguard.policy.scoring import MonitoringPolicy
from lendguard.scoring.metrics import band_labels, band_of
from lendguard.scoring.scorecard import Scorecard, ScorecardError

FLOOR = 1e-4  # the least share a bin counts with in PSI


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Population stability index between two count (or share) vectors over the same bins."""
    expected = np.asarray(expected, dtype=np.float64)
    actual = np.asarray(actual, dtype=np.float64)
    if expected.shape != actual.shape:
        raise ValueError(f"PSI needs the same bins on both sides, not {expected.shape} and {actual.shape}")
    if expected.sum() <= 0 or actual.sum() <= 0:
        raise ValueError("PSI needs at least one row on each side")
    e = np.maximum(expected / expected.sum(), FLOOR)
    a = np.maximum(actual / actual.sum(), FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def level(value: float, limits: MonitoringPolicy) -> str:
    return "alert" if value >= limits.psi_alert else "warn" if value >= limits.psi_warn else "ok"


@dataclass(frozen=True)
class Drift:
    name: str  # "score" or a feature
    index: float  # PSI for the score, CSI for a feature
    level: str
    bins: list[dict]  # label, expected share, actual share

    def as_dict(self) -> dict:
        return {"name": self.name, "index": round(self.index, 6), "level": self.level, "bins": self.bins}


def _drift(name: str, labels: list[str], expected: np.ndarray, actual: np.ndarray, limits: MonitoringPolicy) -> Drift:
    value = psi(expected, actual)
    e, a = expected / expected.sum(), actual / actual.sum()
    bins = [{"bin": label, "expected": round(float(x), 6), "actual": round(float(z), 6)} for label, x, z in zip(labels, e, a, strict=True)]
    return Drift(name, value, level(value, limits), bins)


def drift_report(card: Scorecard, frame: pl.DataFrame, limits: MonitoringPolicy) -> list[Drift]:
    """Score PSI (first) and each model feature's CSI, on the training population's bins."""
    if frame.height == 0:
        raise ScorecardError("no rows to compare with the training population")
    index = card.bin_index(frame)
    found = []
    edges = np.asarray(card.meta.get("score_band_edges") or [], dtype=np.float64)
    expected_bands = card.meta.get("score_band_rows")
    if expected_bands:
        actual = np.bincount(band_of(card.points_of(index).sum(axis=1), edges), minlength=len(edges) + 1)
        found.append(_drift("score", band_labels(edges), np.asarray(expected_bands, dtype=np.float64), actual, limits))
    for k, feature in enumerate(card.features):
        bins = feature.bins
        expected = np.asarray(bins.events, dtype=np.float64) + np.asarray(bins.non_events)
        actual = np.bincount(index[:, k], minlength=bins.bins)
        found.append(_drift(feature.name, bins.labels, expected, actual, limits))
    return found
