"""The policy's scoring section: how a scorecard is binned, which features it keeps, how
log-odds become points, how many reasons a score gives, and the drift limits (SPEC §1.1).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from lendguard.policy.base import Strict

Trend = Literal["auto", "ascending", "descending", "peak", "valley", "none"]


class ScoreScaling(Strict):
    """Points = offset + factor x ln(good:bad odds), factor = pdo / ln 2, so that the odds
    double every `pdo` points and `base_odds` sit at `base_points`."""

    base_points: float = Field(gt=0)
    base_odds: float = Field(gt=0)  # good:bad
    pdo: float = Field(gt=0)  # points to double the odds


class BinningPolicy(Strict):
    max_prebins: int = Field(ge=2, le=200)
    max_bins: int = Field(ge=2, le=50)
    min_bin_share: float = Field(gt=0.0, lt=0.5)
    default_trend: Trend
    unimodal_gain: float = Field(ge=0.0)  # `auto` takes a peak or valley only when it adds this share of IV
    trends: dict[str, Trend] = Field(default_factory=dict)  # per feature; others get default_trend

    @model_validator(mode="after")
    def _bins_within_prebins(self) -> BinningPolicy:
        if self.max_bins > self.max_prebins:
            raise ValueError(f"max_bins ({self.max_bins}) cannot exceed max_prebins ({self.max_prebins})")
        return self


class SelectionPolicy(Strict):
    iv_min: float = Field(ge=0.0)  # a feature below this information value is dropped
    max_p_value: float = Field(gt=0.0, le=1.0)  # a feature whose bins' chi-square test is less significant is dropped
    correlation_max: float = Field(gt=0.0, le=1.0)  # of two WoE columns this correlated, the lower-IV one goes
    max_features: int = Field(ge=1)


class MonitoringPolicy(Strict):
    psi_warn: float = Field(gt=0.0)
    psi_alert: float = Field(gt=0.0)

    @model_validator(mode="after")
    def _ordered(self) -> MonitoringPolicy:
        if self.psi_alert <= self.psi_warn:
            raise ValueError(f"psi_alert ({self.psi_alert}) must be above psi_warn ({self.psi_warn})")
        return self


class ValidationPolicy(Strict):
    test_share: float = Field(gt=0.0, lt=1.0)
    out_of_time_share: float = Field(gt=0.0, lt=1.0)
    score_bands: int = Field(ge=2, le=100)
    approval_share: float = Field(gt=0.0, lt=1.0)


class ChallengerPolicy(Strict):
    learning_rate: float = Field(gt=0.0, le=1.0)
    num_leaves: int = Field(ge=2, le=4096)
    min_leaf_share: float = Field(gt=0.0, lt=0.5)
    max_rounds: int = Field(ge=1)
    early_stopping_rounds: int = Field(ge=1)


class ScoringPolicy(Strict):
    scaling: ScoreScaling
    binning: BinningPolicy
    selection: SelectionPolicy
    monitoring: MonitoringPolicy
    validation: ValidationPolicy
    challenger: ChallengerPolicy
    model: str = Field(min_length=1)  # the served scorecard's directory (relative: to the data directory)
    reason_count: int = Field(ge=1, le=10)  # reasons given with a score (the adverse-action explanation)
