"""Train and judge: split the data (random test split, and an out-of-time split when a time
column is given), fit the scorecard and its LightGBM challenger on the training rows, and
measure both on every split. The result is what `lendguard score fit` writes: the model
artifacts, `validation.json` and `validation.html`."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from lendguard.policy.scoring import ScoringPolicy
from lendguard.scoring.artifact import save_scorecard
from lendguard.scoring.challenger import Challenger, fit_challenger, save_challenger
from lendguard.scoring.metrics import (
    band_edges,
    band_of,
    calibration,
    distribution,
    performance,
)
from lendguard.scoring.report import write_validation
from lendguard.scoring.scorecard import (
    Scorecard,
    ScorecardError,
    fit_scorecard,
    is_identifier,
    target_values,
)

REPORT_FORMAT = "lendguard-validation/1"


def outcome_frame(frame: pl.DataFrame, target: str, event: str | None = None) -> pl.DataFrame:
    """The frame with its target as 0/1. With `event`, rows whose target equals it are the
    event (1) and every other value is 0: how a text target such as good/bad is mapped."""
    if target not in frame.columns:
        raise ScorecardError(f"no target column {target!r}; the data has {frame.columns}")
    if event is None:
        return frame
    column = frame[target]
    if column.null_count():
        raise ScorecardError(f"the target {target!r} has {column.null_count():,} missing values")
    values = column.cast(pl.Utf8)
    if not (values == event).any():
        raise ScorecardError(f"no row of {target!r} equals the event value {event!r}; its values include {values.unique().sort().head(5).to_list()}")
    return frame.with_columns((values == event).cast(pl.Int8).alias(target))


@dataclass
class Splits:
    train: pl.DataFrame
    test: pl.DataFrame
    out_of_time: pl.DataFrame | None = None

    def items(self) -> list[tuple[str, pl.DataFrame]]:
        named = [("train", self.train), ("test", self.test)]
        return [*named, ("out_of_time", self.out_of_time)] if self.out_of_time is not None else named


def split_rows(frame: pl.DataFrame, policy: ScoringPolicy, seed: int, time_column: str | None = None) -> Splits:
    """Out-of-time first: the rows at or after the `1 - out_of_time_share` quantile of
    `time_column` (whole periods: a month is never cut in two, so the share is approximate),
    then a random `test_share` of the rest."""
    rules = policy.validation
    out_of_time = None
    if time_column is not None:
        if time_column not in frame.columns:
            raise ScorecardError(f"no time column {time_column!r}; the data has {frame.columns}")
        if frame[time_column].null_count():
            raise ScorecardError(f"the time column {time_column!r} has {frame[time_column].null_count():,} missing values")
        cut = frame.select(pl.col(time_column).quantile(1 - rules.out_of_time_share, "higher")).item()
        late = frame[time_column] >= cut
        out_of_time, frame = frame.filter(late), frame.filter(~late)
    test = np.random.default_rng(seed).random(frame.height) < rules.test_share
    splits = Splits(train=frame.filter(pl.Series(~test)), test=frame.filter(pl.Series(test)), out_of_time=out_of_time)
    for name, part in splits.items():
        if part.height == 0:
            raise ScorecardError(f"the {name} split is empty: {frame.height:,} rows are too few for the policy's shares")
    return splits


@dataclass
class TrainingRun:
    card: Scorecard
    challenger: Challenger | None
    splits: Splits
    report: dict = field(default_factory=dict)


def train_models(
    frame: pl.DataFrame, target: str, policy: ScoringPolicy, *, features: list[str] | None = None, exclude: list[str] = (),
    time_column: str | None = None, seed: int = 7, challenger: bool = True, previous: Scorecard | None = None,
    truth_column: str | None = None, policy_version: str = "", progress: Callable[[str], None] | None = None,
) -> TrainingRun:
    """Fit the scorecard (and the challenger) on the training split and validate both. With
    `truth_column` (synthetic data: each row's true event probability) the report also gives
    the truth's own AUC, the ceiling no model can pass on these rows."""
    if target not in frame.columns:
        raise ScorecardError(f"no target column {target!r}; the data has {frame.columns}")
    target_values(frame[target])  # a bad target fails here, before any split
    excluded = {target, *exclude, *([time_column] if time_column else []), *([truth_column] if truth_column else [])}
    candidates = features or [c for c in frame.columns if c not in excluded]
    splits = split_rows(frame, policy, seed, time_column)
    card = fit_scorecard(splits.train, target, policy, candidates, progress=progress)
    scores = {name: card.score(part) for name, part in splits.items()}
    train_scores = scores["train"]
    edges = band_edges(train_scores, policy.validation.score_bands)
    card.meta.update({
        "score_band_edges": edges.tolist(),
        "score_band_rows": np.bincount(band_of(train_scores, edges), minlength=len(edges) + 1).tolist(),
        "split_rows": {name: part.height for name, part in splits.items()},
        "time_column": time_column, "seed": seed,
    })
    champion = None
    if challenger:
        if progress:
            progress("challenger")
        began = time.perf_counter()
        usable = [c for c in candidates if splits.train[c].null_count() < splits.train.height and not is_identifier(splits.train[c])]
        champion = fit_challenger(splits.train, _outcomes(splits.train, target), usable, policy.challenger, seed)
        champion_seconds = time.perf_counter() - began
    report = {
        "format": REPORT_FORMAT, "created_at": dt.datetime.now(dt.timezone.utc).isoformat(), "policy_version": policy_version,
        "target": target, "time_column": time_column, "rows": card.meta["split_rows"],
        "models": {"scorecard": {"fit_seconds": card.meta["fit_seconds"], "features": len(card.features)}},
        "calibration": {}, "iv": _iv_table(card),
    }
    for name, part in splits.items():
        y = _outcomes(part, target)
        p_bad = np.asarray(card.scale.bad_probability(scores[name]))
        report["models"]["scorecard"][name] = performance(y, p_bad).as_dict()
        report["calibration"][name] = calibration(y, p_bad, scores[name], edges)
        if champion is not None:
            report["models"].setdefault("challenger", {"fit_seconds": round(champion_seconds, 3), "features": len(champion.features), "rounds": champion.rounds})
            report["models"]["challenger"][name] = performance(y, champion.bad_probability(part)).as_dict()
        if truth_column is not None:
            report.setdefault("truth", {})[name] = performance(y, part[truth_column].to_numpy()).as_dict()
    report["distribution"] = distribution(train_scores, _outcomes(splits.train, target))
    if champion is not None:
        report["gap"] = {
            name: None if mine is None or theirs is None else round(mine - theirs, 6)
            for name, _ in splits.items()
            for mine, theirs in [(report["models"]["scorecard"][name]["auc"], report["models"]["challenger"][name]["auc"])]
        }
    if previous is not None:
        report["swap_set"] = swap_set(card, previous, splits.test, target, policy.validation.approval_share, scores["test"])
    return TrainingRun(card=card, challenger=champion, splits=splits, report=report)


def _outcomes(frame: pl.DataFrame, target: str) -> np.ndarray:
    """0/1 outcomes of a split (the whole target was checked before splitting)."""
    return frame[target].cast(pl.Int64).to_numpy()


def _iv_table(card: Scorecard) -> list[dict]:
    chosen = {f.name for f in card.features}
    rows = [
        {"feature": name, "iv": round(value, 6), "selected": name in chosen, "reason": card.dropped.get(name, "")}
        for name, value in sorted(card.iv.items(), key=lambda kv: -kv[1])
    ]
    return rows + [{"feature": name, "iv": None, "selected": False, "reason": why} for name, why in card.dropped.items() if name not in card.iv]


def swap_set(new: Scorecard, previous: Scorecard, frame: pl.DataFrame, target: str, approval_share: float, new_scores: np.ndarray | None = None) -> dict:
    """Who each model approves at the cutoff that approves `approval_share` of `frame`: the
    rows both approve, the swap-ins (new only), the swap-outs (previous only) and the rest,
    with their event rates. A better model swaps in fewer events than it swaps out."""
    y = _outcomes(frame, target)
    new_scores = new.score(frame) if new_scores is None else new_scores
    old_scores = previous.score(frame)
    new_cut = float(np.quantile(new_scores, 1 - approval_share))
    old_cut = float(np.quantile(old_scores, 1 - approval_share))
    new_ok, old_ok = new_scores >= new_cut, old_scores >= old_cut

    def cell(mask: np.ndarray) -> dict:
        rows = int(mask.sum())
        events = int(y[mask].sum())
        return {"rows": rows, "events": events, "event_rate": events / rows if rows else None}

    return {
        "approval_share": approval_share, "cutoffs": {"new": round(new_cut, 3), "previous": round(old_cut, 3)},
        "both": cell(new_ok & old_ok), "swap_in": cell(new_ok & ~old_ok), "swap_out": cell(~new_ok & old_ok), "neither": cell(~new_ok & ~old_ok),
        "approved_event_rate": {"new": cell(new_ok)["event_rate"], "previous": cell(old_ok)["event_rate"]},
    }


def save_run(run: TrainingRun, out: Path, policy) -> dict[str, object]:
    """Write the model directory: scorecard.json and .csv, the challenger, validation.json and .html."""
    out = Path(out)
    paths: dict[str, object] = save_scorecard(run.card, out, policy)
    if run.challenger is not None:
        paths["challenger"] = save_challenger(run.challenger, out)
    paths["validation_json"] = out / "validation.json"
    paths["validation_json"].write_text(json.dumps(run.report, indent=2, default=str, allow_nan=False), encoding="utf-8")
    paths["validation_html"] = write_validation(run.report, run.card.table(), out)
    return paths
