"""The learned score over today's population: its distribution, and its drift from the
training population (PSI of the score, CSI of each model feature, `scoring.monitoring`),
so the risk team sees when the scorecard no longer describes who is applying."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from lendguard.dashboard.section import empty, ok
from lendguard.policy import Policy
from lendguard.scoring.monitoring import drift_report
from lendguard.scoring.scorecard import Scorecard

SCORE_BINS = 30
TOP_FEATURES = 15

NO_SCORECARD = (
    "No scorecard is served under this data directory (the policy's scoring.model): train one with `lendguard score fit`.",
    "此数据目录下没有在用的评分卡（策略的 scoring.model）：请用 `lendguard score fit` 训练。",
)


def scores_section(card: Scorecard | None, features: pl.DataFrame | None, policy: Policy, location: str) -> dict[str, Any]:
    """`features`: every stored user's features (as the scorecard was trained on); None without events."""
    limits = policy.scoring.monitoring
    if card is None:
        return empty(*NO_SCORECARD, model=None, location=location)
    about = {
        "location": location, "target": card.target, "features": [f.name for f in card.features],
        "created_at": card.meta.get("created_at"), "policy_version": card.meta.get("policy_version"), "training_rows": card.meta.get("rows"),
    }
    if features is None or features.height == 0:
        return empty("No stored events to score.", "没有可评分的已存储事件。", model=about)
    drifts = drift_report(card, features, limits)
    scores = card.points_of(card.bin_index(features)).sum(axis=1)
    counts, edges = np.histogram(scores, bins=SCORE_BINS)
    score_drift = next((d for d in drifts if d.name == "score"), None)
    feature_drift = sorted((d for d in drifts if d.name != "score"), key=lambda d: -d.index)
    return ok(
        model=about,
        users=int(scores.size),
        limits={"psi_warn": limits.psi_warn, "psi_alert": limits.psi_alert},
        summary={"mean": float(scores.mean()), "p10": float(np.percentile(scores, 10)), "median": float(np.median(scores)), "p90": float(np.percentile(scores, 90))},
        histogram={"edges": edges, "counts": counts},
        psi=None if score_drift is None else score_drift.as_dict(),
        csi=[{"name": d.name, "index": round(d.index, 6), "level": d.level} for d in feature_drift[:TOP_FEATURES]],
        levels={level: sum(1 for d in drifts if d.level == level) for level in ("ok", "warn", "alert")},
    )
