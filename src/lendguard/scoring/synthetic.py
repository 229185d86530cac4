"""The synthetic population as a training table: every user's visibility features (as the
engine computes them from their consented events) joined to the default outcome the latent
model drew (synth/outcomes.py), with the application month for an out-of-time split and
the true probability kept aside, so a model can be judged against the truth."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from lendguard.features.build import is_behaviour
from lendguard.scoring.datasets import DatasetError

TARGET, TIME_COLUMN, ID_COLUMN, TRUTH_COLUMN = "defaulted", "applied_month", "user_id", "true_pd"
MAX_CATEGORIES = 50  # a text feature with more distinct values is not a scorecard feature


def feature_columns(features: pl.DataFrame) -> list[str]:
    """The computed features a scorecard can bin: numbers, flags and short category lists."""
    keep = []
    for name, dtype in features.schema.items():
        if name == ID_COLUMN or not is_behaviour(name):
            continue
        if dtype.is_numeric() or dtype == pl.Boolean:
            keep.append(name)
        elif dtype in (pl.String, pl.Categorical) and features[name].n_unique() <= MAX_CATEGORIES:
            keep.append(name)
    return keep


def training_table(data_dir: Path, policy=None) -> pl.DataFrame:
    from lendguard.features.window import AsOf
    from lendguard.policy import load_policy
    from lendguard.store.events import EventStore
    from lendguard.synth.generate import synthetic_as_of
    from lendguard.synth.outcomes import OUTCOMES
    from lendguard.visibility.service import store_features

    data_dir = Path(data_dir)
    outcomes_path = data_dir / OUTCOMES
    as_of = synthetic_as_of(data_dir)
    if as_of is None or not outcomes_path.exists():
        raise DatasetError(f"no synthetic population with outcomes in {data_dir}: run `lendguard synth` first")
    policy = policy or load_policy()
    features = store_features(EventStore(data_dir), policy, AsOf.of(as_of, policy), actor="scoring")
    columns = feature_columns(features)
    outcomes = pl.read_parquet(outcomes_path)
    return features.select(ID_COLUMN, *columns).join(outcomes, on=ID_COLUMN, how="inner")
