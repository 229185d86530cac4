"""The engine and the independent DuckDB reference query agree for every user (consent included)."""

from __future__ import annotations

import datetime as dt

import polars as pl
from conftest import SYNTH_AS_OF

from lendguard.events.schema import EVENT_TYPES
from lendguard.features.window import AsOf
from lendguard.policy import load_policy
from lendguard.store.events import EventStore
from lendguard.visibility.check import DIMENSIONS
from lendguard.visibility.reference_sql import evaluate_reference
from lendguard.visibility.service import evaluate_population

BLOCKING = ("fail", "not_assessable")


def _both(data_dir, consent_at):
    policy = load_policy()
    store = EventStore(data_dir)
    as_of = AsOf.of(SYNTH_AS_OF, policy)
    ours = evaluate_population(store.scan_all(), policy, as_of, users=store.scan_users(), consent_at=consent_at).decisions
    ours = ours.select("user_id", "visible", *[(~pl.col(f"dim_{d}").is_in(BLOCKING)).alias(f"dim_{d}") for d in DIMENSIONS])
    sql = evaluate_reference({t: store.part_files(t) for t in EVENT_TYPES}, policy, as_of, consent_at=consent_at)
    return ours.join(sql, on="user_id", how="full", coalesce=True, suffix="_sql")


def _disagreements(joined: pl.DataFrame) -> pl.DataFrame:
    flags = ["visible", *(f"dim_{d}" for d in DIMENSIONS)]
    return joined.filter(pl.any_horizontal([pl.col(f).ne_missing(pl.col(f"{f}_sql")) for f in flags]))


def test_engine_and_reference_query_agree_on_every_user(population_dir):
    joined = _both(population_dir, SYNTH_AS_OF)
    assert joined.height >= 1500
    assert _disagreements(joined).height == 0
    assert 0 < joined["visible"].sum() < joined.height


def test_they_agree_when_no_grant_is_in_force_yet(population_dir):
    """Before any consent, every check that needs data blocks, in both implementations."""
    joined = _both(population_dir, dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc))
    assert _disagreements(joined).height == 0
    assert joined["visible"].sum() == 0
    assert joined["dim_anti_fraud"].all()  # the lender's own risk state needs no consent
