"""The dashboard's I/O edge: reading what a data directory stores (decisions, consent events,
features through the data gate, the catalogue's risk tables and reviews, the loan ledger's
lines), through the functions of the modules that own them. Nothing here writes, except the
access log of the population read: every read of user data is logged."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
from sqlalchemy import func, inspect, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from lendguard.consent.state import latest_actions
from lendguard.features.window import AsOf
from lendguard.fraud.book import risk_transitions
from lendguard.loans.models import CreditLine
from lendguard.policy import Policy
from lendguard.reviews.domain import Review
from lendguard.reviews.store import find_reviews
from lendguard.store.catalog import risk_states
from lendguard.store.events import EventStore
from lendguard.visibility.credit_score import with_credit_score
from lendguard.visibility.service import served_scorecard, store_features

DECISIONS_FILE = Path("decisions") / "decisions.parquet"
CATALOG_FILE = "catalog.sqlite"
ACTOR = "dashboard"  # the access log's name for the dashboard's population reads


def read_decisions(data_dir: Path) -> pl.DataFrame | None:
    """The last population evaluation's table (`lendguard evaluate`), or None before one."""
    path = data_dir / DECISIONS_FILE
    return pl.read_parquet(path) if path.exists() else None


def decided_at(decisions: pl.DataFrame | None) -> dt.datetime | None:
    if decisions is None or decisions.height == 0 or "as_of" not in decisions.columns:
        return None
    return decisions["as_of"][0]


def has_table(engine: Engine, name: str) -> bool:
    return inspect(engine).has_table(name)


def consent_actions(store: EventStore, at: dt.datetime) -> pl.DataFrame:
    """The latest grant or withdrawal per user, scope and purpose by `at` (consent.state)."""
    return latest_actions(store.scan("consent"), at).collect()


def population_features(store: EventStore, policy: Policy, as_of: AsOf) -> pl.DataFrame | None:
    """Every stored user's features through the data gate (the read is logged), with the learned
    score when the policy uses it; None when nothing is stored."""
    if store.is_empty():
        return None
    features = store_features(store, policy, as_of, actor=ACTOR)
    return with_credit_score(features, policy, served_scorecard(policy, store.data_dir))


def risk_levels(engine: Engine) -> pl.DataFrame:
    """(level, users) from risk_states."""
    query = select(risk_states.c.level, func.count().label("users")).group_by(risk_states.c.level)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return pl.DataFrame(rows, schema={"level": pl.String, "users": pl.Int64}, orient="row")


def all_transitions(engine: Engine, schema: pl.Schema) -> pl.DataFrame:
    """Every stored risk transition (user, levels, rule, event time in UTC)."""
    if not has_table(engine, risk_transitions.name):
        return pl.DataFrame(schema=schema)
    c = risk_transitions.c
    with engine.connect() as conn:
        frame = pl.read_database(select(c.user_id, c.from_level, c.to_level, c.rule_id, c.at), conn)
    if frame.height == 0:
        return pl.DataFrame(schema=schema)
    at = pl.col("at").str.to_datetime(time_unit="us") if frame.schema["at"] == pl.String else pl.col("at")
    return frame.with_columns(at.dt.replace_time_zone(None).dt.replace_time_zone("UTC").cast(schema["at"])).select(schema.names())


def stored_reviews(engine: Engine) -> list[Review]:
    if not has_table(engine, "reviews"):
        return []
    with engine.connect() as conn:
        return find_reviews(conn)


def users_with_lines(sessions: sessionmaker[Session]) -> pl.DataFrame:
    """(user_id) of every user with a credit line in the ledger."""
    engine = sessions.kw["bind"]
    with engine.connect() as conn:
        frame = pl.read_database(select(CreditLine.user_id).distinct(), conn)
    return frame.select(pl.col("user_id").cast(pl.String)) if frame.height else pl.DataFrame(schema={"user_id": pl.String})
