"""Generate a synthetic population into an event store, chunk by chunk, with a progress callback."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import polars as pl

from lendguard.policy import Policy
from lendguard.store.events import EventStore
from lendguard.synth.events import generate_events
from lendguard.synth.fraud import LABEL_SCHEMA, FraudPlan, plant_fraud
from lendguard.synth.outcomes import OUTCOME_SCHEMA, OUTCOMES, draw_outcomes
from lendguard.synth.population import SynthConfig, generate_users

CHUNK_USERS = 50_000
MANIFEST = "synthetic.json"
FRAUD_LABELS = "fraud_labels.parquet"


@dataclass(frozen=True)
class SynthSummary:
    users: int
    events: int
    events_by_type: dict[str, int]
    as_of: str
    seed: int
    quarter: int = 0


def generate_population(
    store: EventStore,
    policy: Policy,
    users: int,
    as_of: dt.datetime,
    seed: int = 7,
    config: SynthConfig | None = None,
    progress: Callable[[int], None] | None = None,
    keep_traits: Path | None = None,
    fraud: FraudPlan | None = FraudPlan(),
    quarter: int = 0,
) -> SynthSummary:
    """Write `users` synthetic users' events to `store`; returns what was written.

    The latent traits (ground truth) can be kept in a Parquet file for calibration checks.
    Unless `fraud` is None, fraud and look-alikes are planted (synth/fraud.py) and their
    labels written to FRAUD_LABELS in the data directory. `quarter` > 0 keeps the same users
    (their latent traits and outcomes) but draws their behaviour afresh: the population a
    quarter later, for the quarterly re-evaluation. Default outcomes from the latent
    model (synth/outcomes.py) go to OUTCOMES, on their own generator.
    """
    config = config or SynthConfig()
    totals: dict[str, int] = {}
    traits: list[pl.DataFrame] = []
    labels: list[pl.DataFrame] = []
    outcomes: list[pl.DataFrame] = []
    for chunk, first in enumerate(range(0, users, CHUNK_USERS)):
        n = min(CHUNK_USERS, users - first)
        rng = np.random.default_rng([seed, chunk])
        people = generate_users(n, first, rng, policy.geography, config)
        outcomes.append(draw_outcomes(people, np.random.default_rng([seed, chunk, 3])))
        prefix = f"s{seed}-{chunk}" + (f"q{quarter}" if quarter else "")
        if quarter:
            rng = np.random.default_rng([seed, chunk, 1000 + quarter])
            people = _a_quarter_on(people, generate_users(n, first, rng, policy.geography, config), rng.random(n) < config.quarterly_change)
        frames = generate_events(people, as_of, policy, rng, id_prefix=prefix)
        if fraud is not None:
            frames, planted = plant_fraud(people, frames, as_of, policy, rng, fraud, id_prefix=prefix)
            labels.append(planted)
        store.append_bulk(frames, source=f"synth:seed={seed}:chunk={chunk}")
        _log_consents(store, frames["consent"])
        for event_type, frame in frames.items():
            totals[event_type] = totals.get(event_type, 0) + frame.height
        if keep_traits is not None:
            traits.append(people)
        if progress:
            progress(n)
    if keep_traits is not None and traits:
        pl.concat(traits).write_parquet(keep_traits)
    (pl.concat(outcomes) if outcomes else pl.DataFrame(schema=OUTCOME_SCHEMA)).write_parquet(store.data_dir / OUTCOMES)
    summary = SynthSummary(users, sum(totals.values()), totals, as_of.isoformat(), seed, quarter)
    manifest = {**asdict(summary), "config": asdict(config), "fraud": None, "outcomes": OUTCOMES}
    if fraud is not None:
        planted = pl.concat(labels) if labels else pl.DataFrame(schema=LABEL_SCHEMA)
        planted.write_parquet(store.data_dir / FRAUD_LABELS)
        by_pattern = planted.group_by("pattern").agg(pl.col("user_id").n_unique()).sort("pattern").rows()
        manifest["fraud"] = {"plan": asdict(fraud), "labels": FRAUD_LABELS, "users_by_pattern": dict(by_pattern)}
    (store.data_dir / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str))
    return summary


def _a_quarter_on(people: pl.DataFrame, redrawn: pl.DataFrame, changed: np.ndarray) -> pl.DataFrame:
    """The same users a quarter on: those `changed` take all their traits from `redrawn`."""
    mask = pl.Series(changed)
    return people.select(pl.when(mask).then(redrawn[c]).otherwise(pl.col(c)).alias(c) for c in people.columns)


def _log_consents(store: EventStore, consents: pl.DataFrame) -> None:
    """The synthetic grants and withdrawals are evidence like any other (the ids are new)."""
    from lendguard.consent.evidence import CONSENT_KIND, consent_record
    from lendguard.evidence import EvidenceLog

    with EvidenceLog.open(store.data_dir) as log:
        for chunk in consents.iter_slices(50_000):
            log.append_many((CONSENT_KIND, row["event_id"], consent_record(row)) for row in chunk.iter_rows(named=True))


def reset_data_dir(data_dir: Path) -> None:
    """Forget everything a data directory holds (`synth --replace`): events, catalogue,
    evidence log, access log, dead letters, the synthetic manifest, fraud labels, outcomes and the
    embedded loan ledger (its contracts were in the evidence log). Other files in the
    directory, and a ledger in an external database, are left alone."""
    import shutil

    from lendguard.loans.portfolio import YEAR_FILE

    data_dir = Path(data_dir)
    for name in ("events", "evidence", "access_log", "dead_letter"):
        shutil.rmtree(data_dir / name, ignore_errors=True)
    for path in [*data_dir.glob("catalog.sqlite*"), *data_dir.glob("ledger.sqlite*"), data_dir / YEAR_FILE, data_dir / MANIFEST, data_dir / FRAUD_LABELS, data_dir / OUTCOMES]:
        path.unlink(missing_ok=True)


def synthetic_as_of(data_dir: Path) -> dt.datetime | None:
    """The as-of time of a synthetic population in `data_dir`, if one was generated there."""
    manifest = Path(data_dir) / MANIFEST
    if not manifest.exists():
        return None
    return dt.datetime.fromisoformat(json.loads(manifest.read_text())["as_of"])
