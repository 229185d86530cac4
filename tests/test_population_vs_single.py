"""One implementation: the population run and the single-user path decide identically."""

from __future__ import annotations

import polars as pl

from conftest import SYNTH_AS_OF
from lendguard.features.window import AsOf
from lendguard.policy import load_policy
from lendguard.store.events import EventStore
from lendguard.visibility.decision import Decision, DecisionRenderer
from lendguard.visibility.engine import decision_columns
from lendguard.visibility.service import VisibilityService, decide_user, evaluate_store

POLICY = load_policy()


def test_population_decisions_equal_single_user_decisions(population_dir):
    store = EventStore(population_dir)
    as_of = AsOf.of(SYNTH_AS_OF, POLICY)
    population = evaluate_store(store, POLICY, as_of).decisions
    sample = population.sample(60, seed=3)["user_id"].to_list()
    renderer = DecisionRenderer(POLICY, as_of)
    for user_id in sample:
        single = decide_user(store, POLICY, as_of, user_id)
        batch = population.filter(pl.col("user_id") == user_id).row(0, named=True)
        for column in decision_columns(POLICY):
            assert single[column] == batch[column], (user_id, column)
        assert renderer.decision(single) == renderer.decision(batch)


def test_population_has_both_outcomes_and_valid_documents(population_dir):
    store = EventStore(population_dir)
    as_of = AsOf.of(SYNTH_AS_OF, POLICY)
    decisions = evaluate_store(store, POLICY, as_of).decisions
    share = decisions["visible"].mean()
    assert 0.2 < share < 0.6, share
    renderer = DecisionRenderer(POLICY, as_of)
    for row in decisions.head(50).iter_rows(named=True):
        document = Decision.model_validate(renderer.decision(row))
        assert document.visible == (not document.failed_dimensions)
        assert len(document.dimensions) == 8
        for dimension in document.dimensions:
            for check in dimension.checks:
                assert check.reason.zh and check.reason.en
                if check.status in ("fail", "not_assessable"):
                    assert check.code in document.reason_codes
                    assert check.advice is not None, check.code


def test_service_serves_cached_rows_and_recomputes_after_new_events(population_dir, tmp_path):
    import shutil

    data = tmp_path / "copy"
    shutil.copytree(population_dir, data)
    store = EventStore(data)
    service = VisibilityService(store, POLICY)
    as_of = AsOf.of(SYNTH_AS_OF, POLICY)
    result = service.evaluate_all(as_of)
    user = result.decisions.filter(~pl.col("visible"))["user_id"][0]
    cached = service.cache.get(user, as_of.at, POLICY.sha256, service.row_schema(as_of))
    assert cached is not None and cached["visible"] is False
    assert service.decision(user, as_of)["visible"] is False
    # New events for the user drop the cached row; the next read is recomputed.
    from lendguard.events.ingest import ingest
    import json

    event = {"type": "bill_payment", "event_id": "new-bill", "user_id": user, "ts": "2026-11-23T10:00:00+08:00", "amount": "30.00", "biller": "gas"}
    ingest([(1, json.dumps(event).encode())], "test", store, POLICY)
    assert service.cache.get(user, as_of.at, POLICY.sha256, service.row_schema(as_of)) is None
    fresh = service.decision(user, as_of)
    assert fresh["user_id"] == user
    assert service.cache.get(user, as_of.at, POLICY.sha256, service.row_schema(as_of))["bill_payments_quarter"] >= 1
