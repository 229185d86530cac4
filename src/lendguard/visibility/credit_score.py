"""The learned score as a feature: the served scorecard applied to the engine's features.

It feeds the first visibility dimension when the policy lists CR05 there, and offers
when a product gives the score a line weight. Besides the score and its reasons, each
row gets the smallest change that would lift it to the policy's minimum: one feature
moved the fewest bins that makes up the shortfall, or, failing that, the fewest
features moved to their best bins. All of it is vectorised: no loop per user.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from lendguard.features.build import is_behaviour
from lendguard.policy import Policy
from lendguard.scoring.reasons import reason_table
from lendguard.scoring.scorecard import Scorecard, ScorecardError

SCORE = "credit_score"
CODES, REASONS_ZH, REASONS_EN = "credit_score_codes", "credit_score_reasons_zh", "credit_score_reasons_en"
SHORTFALL = "credit_score_shortfall"
FIX_FEATURE, FIX_BAND, FIX_POINTS = "credit_score_fix_feature", "credit_score_fix_band", "credit_score_fix_points"
FIX_FEATURES, FIX_COUNT = "credit_score_fix_features", "credit_score_fix_count"
MODEL = "credit_score_model"  # the scorecard file's SHA-256: which model decided
SCORE_CHECK = "CR05"
# Scores are compared at this many decimals, so every implementation draws the line alike.
DECIMALS = 2

SCORE_SCHEMA = pl.Schema(
    {
        SCORE: pl.Float64,
        CODES: pl.List(pl.String),
        REASONS_ZH: pl.List(pl.String),
        REASONS_EN: pl.List(pl.String),
        SHORTFALL: pl.Float64,
        FIX_FEATURE: pl.String,
        FIX_BAND: pl.String,
        FIX_POINTS: pl.Float64,
        FIX_FEATURES: pl.String,
        FIX_COUNT: pl.Int64,
        MODEL: pl.String,
    }
)


class ScoreUnavailable(ScorecardError):
    """The policy asks for the learned score but no usable scorecard is served."""


def score_needed(policy: Policy) -> bool:
    """Whether this policy decides or prices anything by the learned score."""
    in_visibility = SCORE_CHECK in policy.visibility.credit.checks
    in_offers = any(product.line_weights.credit_score > 0 for product in policy.loans.products.values())
    return in_visibility or in_offers


def with_credit_score(features: pl.DataFrame, policy: Policy, card: Scorecard | None) -> pl.DataFrame:
    """`features` plus the score columns (SCORE_SCHEMA) when the policy needs them."""
    if not score_needed(policy):
        return features
    if card is None:
        raise ScoreUnavailable(
            f"the policy uses the learned score ({SCORE_CHECK} in visibility.credit.checks, or a credit_score line "
            f"weight) but no scorecard is served at scoring.model = {policy.scoring.model!r}: train one with "
            "`lendguard score fit --out DIR` and point scoring.model (or LENDGUARD_SCORECARD) at it"
        )
    unfit = [f.name for f in card.features if not is_behaviour(f.name)]
    if unfit:
        raise ScoreUnavailable(f"the served scorecard reads {unfit}: consent flags, review overrides and rollout buckets are not features")
    try:
        index = card.bin_index(features)
    except ScorecardError as exc:
        raise ScoreUnavailable(f"the served scorecard does not fit the engine's features: {exc}") from exc
    points = card.points_of(index)
    scored = reason_table(card, index, points, policy.scoring.reason_count)
    scores = np.round(points.sum(axis=1), DECIMALS)
    shortfall = np.round(policy.visibility.credit.min_score - scores, DECIMALS)
    columns = pl.DataFrame(
        {
            SCORE: scores,
            CODES: scored["codes"],
            REASONS_ZH: scored["reasons_zh"],
            REASONS_EN: scored["reasons_en"],
            SHORTFALL: np.where(shortfall > 0, shortfall, np.nan),
            **smallest_fix(card, index, points, shortfall, frozenset(policy.visibility.credit.fixed_features)),
        }
    ).with_columns(
        pl.col(SHORTFALL).fill_nan(None), pl.col(FIX_POINTS).fill_nan(None), pl.lit(card.meta.get("sha256")).alias(MODEL)
    )
    return pl.concat([features, columns.cast(SCORE_SCHEMA)], how="horizontal")


def deciding_scorecard(decisions: pl.DataFrame) -> str | None:
    """The SHA-256 of the scorecard that decided these rows (None: no score was used)."""
    return decisions[MODEL].first() if MODEL in decisions.columns else None


def smallest_fix(
    card: Scorecard, index: np.ndarray, points: np.ndarray, shortfall: np.ndarray, fixed: frozenset[str] = frozenset()
) -> dict[str, object]:
    """For rows short of the minimum (shortfall > 0): the single feature move that closes
    the gap in the fewest bins (ties: the larger gain), else how many features, moved to
    their best bins in order of gain, close it (null when nothing can). Features in
    `fixed` are never moved."""
    rows, width = points.shape
    short = shortfall > 0
    best_distance = np.full(rows, np.inf)
    best_gain = np.full(rows, -np.inf)
    best_feature = np.full(rows, -1)
    best_bin = np.full(rows, -1)
    most = np.zeros((rows, width))
    for k, feature in enumerate(card.features):
        values = np.asarray(feature.points, dtype=np.float64)
        missing = len(values) - 1  # the missing bin is last; no advice asks to hide a value
        current = index[:, k]
        if feature.name in fixed or not missing:
            continue
        most[:, k] = np.maximum(values[:missing].max() - points[:, k], 0.0)
        for b in range(missing):
            gain = values[b] - points[:, k]
            if feature.bins.kind == "numeric":
                distance = np.where(current == missing, 1, np.abs(b - current))
            else:
                distance = np.where(current == b, 0, 1)
            enough = short & (distance > 0) & (gain >= shortfall - 1e-9)
            better = enough & ((distance < best_distance) | ((distance == best_distance) & (gain > best_gain)))
            best_distance = np.where(better, distance, best_distance)
            best_gain = np.where(better, gain, best_gain)
            best_feature = np.where(better, k, best_feature)
            best_bin = np.where(better, b, best_bin)
    names = np.array([f.name for f in card.features] + [None], dtype=object)
    single = best_feature >= 0
    offsets = np.cumsum([0] + [len(f.bins.labels) for f in card.features])
    labels = np.array([label for f in card.features for label in f.bins.labels] + [None], dtype=object)
    bands = labels[np.where(single, offsets[np.maximum(best_feature, 0)] + best_bin, len(labels) - 1)]

    several = short & ~single
    order = np.argsort(-most, axis=1, kind="stable")
    reached = np.cumsum(np.take_along_axis(most, order, axis=1), axis=1) >= shortfall[:, None] - 1e-9
    possible = several & reached[:, -1]
    count = np.where(possible, reached.argmax(axis=1) + 1, 0)
    if not width:
        return {FIX_FEATURE: pl.Series(FIX_FEATURE, [None] * rows, dtype=pl.String), FIX_BAND: pl.Series(FIX_BAND, [None] * rows, dtype=pl.String),
                FIX_POINTS: np.full(rows, np.nan), FIX_FEATURES: pl.Series(FIX_FEATURES, [None] * rows, dtype=pl.String),
                FIX_COUNT: pl.Series(FIX_COUNT, [None] * rows, dtype=pl.Int64)}
    ranked = pl.DataFrame({f"n{j}": pl.Series(names[order[:, j]], dtype=pl.String) for j in range(width)}).with_columns(
        pl.Series("count", count)
    )
    chosen = ranked.select(
        pl.when(pl.col("count") > 0).then(
            pl.concat_str([pl.when(pl.col("count") > j).then(pl.col(f"n{j}")) for j in range(width)], separator=", ", ignore_nulls=True)
        )
    ).to_series()
    return {
        FIX_FEATURE: pl.Series(FIX_FEATURE, names[np.where(single, best_feature, width)].tolist(), dtype=pl.String),
        FIX_BAND: pl.Series(FIX_BAND, bands.tolist(), dtype=pl.String),
        FIX_POINTS: np.where(single, np.round(best_gain, DECIMALS), np.nan),
        FIX_FEATURES: chosen.rename(FIX_FEATURES),
        FIX_COUNT: pl.Series(FIX_COUNT, np.where(possible, count, 0), dtype=pl.Int64).replace(0, None),
    }
