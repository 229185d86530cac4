"""From log-odds to points: the scorecard's scale.

A score is offset + factor x ln(good:bad odds), with factor = pdo / ln 2 and offset chosen
so that `base_odds` score `base_points`. Doubling the odds adds exactly `pdo` points.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lendguard.policy.scoring import ScoreScaling


@dataclass(frozen=True)
class Scale:
    factor: float
    offset: float

    @classmethod
    def of(cls, scaling: ScoreScaling) -> Scale:
        factor = scaling.pdo / math.log(2)
        return cls(factor=factor, offset=scaling.base_points - factor * math.log(scaling.base_odds))

    def score(self, log_odds_good: np.ndarray | float) -> np.ndarray | float:
        return self.offset + self.factor * log_odds_good

    def log_odds(self, score: np.ndarray | float) -> np.ndarray | float:
        return (score - self.offset) / self.factor

    def bad_probability(self, score: np.ndarray | float) -> np.ndarray | float:
        """The probability of the event (bad) a score stands for."""
        return 1 / (1 + np.exp(self.log_odds(score)))

    def bin_points(self, coefficient: float, woe: np.ndarray, intercept: float, features: int) -> np.ndarray:
        """Points of each bin of one feature. The model is ln(bad odds) = intercept + sum of
        coefficient x WoE; the intercept and the offset are shared evenly among the features,
        so a row's points add up to its score."""
        return self.offset / features - self.factor * (coefficient * woe + intercept / features)
