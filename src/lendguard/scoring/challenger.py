"""The challenger: gradient boosting (LightGBM) on the same features and splits as the
scorecard, so the validation report shows what the scorecard gives up for being a table a
person can read. Categorical columns are coded by a mapping kept with the model, so the
saved challenger scores new data without the training set."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from lendguard.policy.scoring import ChallengerPolicy

MODEL_FILE, META_FILE = "challenger.txt", "challenger.json"


@dataclass
class Challenger:
    booster: object  # lightgbm.Booster
    features: list[str]
    categories: dict[str, list[str]]  # categorical feature -> its categories, in code order
    rounds: int

    def matrix(self, frame: pl.DataFrame) -> np.ndarray:
        missing = [f for f in self.features if f not in frame.columns]
        if missing:
            raise ValueError(f"the data lacks the challenger's features {missing}")
        return _matrix(frame, self.features, self.categories)

    def bad_probability(self, frame: pl.DataFrame) -> np.ndarray:
        return np.asarray(self.booster.predict(self.matrix(frame)))


def _is_numeric(column: pl.Series) -> bool:
    return column.dtype.is_numeric() or column.dtype == pl.Boolean


def _matrix(frame: pl.DataFrame, features: list[str], categories: dict[str, list[str]]) -> np.ndarray:
    columns = []
    for name in features:
        if name in categories:
            codes = {value: float(k) for k, value in enumerate(categories[name])}
            columns.append(frame[name].cast(pl.Utf8).replace_strict(codes, default=None, return_dtype=pl.Float64).fill_null(np.nan).to_numpy())
        else:
            columns.append(frame[name].cast(pl.Float64).fill_null(np.nan).to_numpy())
    return np.column_stack(columns) if columns else np.zeros((frame.height, 0))


def fit_challenger(frame: pl.DataFrame, y: np.ndarray, features: list[str], policy: ChallengerPolicy, seed: int = 7) -> Challenger:
    import lightgbm as lgb

    categories = {
        name: sorted(frame[name].cast(pl.Utf8).drop_nulls().unique().to_list())
        for name in features if not _is_numeric(frame[name])
    }
    x = _matrix(frame, features, categories)
    rng = np.random.default_rng(seed)
    early = rng.random(len(y)) < 0.1
    params = {
        "objective": "binary", "metric": "auc", "learning_rate": policy.learning_rate, "num_leaves": policy.num_leaves,
        "min_data_in_leaf": max(20, int(policy.min_leaf_share * len(y))), "feature_fraction": 0.9, "bagging_fraction": 0.9,
        "bagging_freq": 1, "seed": seed, "verbosity": -1, "num_threads": 0,
    }
    categorical = [k for k, name in enumerate(features) if name in categories]
    train = lgb.Dataset(x[~early], y[~early], categorical_feature=categorical, free_raw_data=False)
    check = lgb.Dataset(x[early], y[early], reference=train, categorical_feature=categorical)
    booster = lgb.train(
        params, train, num_boost_round=policy.max_rounds, valid_sets=[check],
        callbacks=[lgb.early_stopping(policy.early_stopping_rounds, verbose=False)],
    )
    return Challenger(booster=booster, features=list(features), categories=categories, rounds=booster.best_iteration or booster.current_iteration())


def save_challenger(model: Challenger, out: Path) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.booster.save_model(str(out / MODEL_FILE), num_iteration=model.rounds)
    (out / META_FILE).write_text(json.dumps({"features": model.features, "categories": model.categories, "rounds": model.rounds}, indent=2))
    return out / MODEL_FILE


def load_challenger(directory: Path) -> Challenger | None:
    import lightgbm as lgb

    directory = Path(directory)
    if not (directory / MODEL_FILE).exists():
        return None
    meta = json.loads((directory / META_FILE).read_text())
    return Challenger(lgb.Booster(model_file=str(directory / MODEL_FILE)), meta["features"], meta["categories"], meta["rounds"])
