"""Scoring a table with a saved scorecard: score, event probability, points per feature
and the reasons, vectorised. The CLI, the API and the population paths all call this."""

from __future__ import annotations

import numpy as np
import polars as pl

from lendguard.scoring.reasons import reason_table
from lendguard.scoring.scorecard import Scorecard, ScorecardError


def score_frame(card: Scorecard, frame: pl.DataFrame, reason_count: int, id_column: str | None = None) -> pl.DataFrame:
    """One row per input row: [id], score, bad_probability, codes, reasons_en, reasons_zh."""
    id_column = id_column or ("user_id" if "user_id" in frame.columns else None)
    if id_column is not None and id_column not in frame.columns:
        raise ScorecardError(f"no id column {id_column!r}; the data has {frame.columns}")
    index = card.bin_index(frame)
    points = card.points_of(index)
    scores = points.sum(axis=1)
    head = pl.DataFrame({"score": np.round(scores, 1), "bad_probability": np.asarray(card.scale.bad_probability(scores))})
    if id_column is not None:
        head = pl.concat([frame.select(id_column), head], how="horizontal")
    return pl.concat([head, reason_table(card, index, points, reason_count)], how="horizontal")
