"""Use cases of entry visibility: decide for a population or one user, and write the results."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

import msgspec
import polars as pl
from sqlalchemy import select

from lendguard import __version__
from lendguard.consent.access_log import AccessLog
from lendguard.consent.gate import GatedData, gate
from lendguard.evidence.shared import SharedLog
from lendguard.features.build import RISK_STATE_SCHEMA, compute_features
from lendguard.features.window import AsOf
from lendguard.policy import Policy
from lendguard.reviews.service import active_check_overrides
from lendguard.scoring.artifact import scorecard_location, served_slot
from lendguard.scoring.scorecard import Scorecard
from lendguard.store.catalog import as_utc, risk_states
from lendguard.store.decisions import DecisionCache
from lendguard.store.events import EventStore
from lendguard.visibility.credit_score import (
    MODEL,
    deciding_scorecard,
    score_needed,
    with_credit_score,
)
from lendguard.visibility.data_use import VISIBILITY_USES
from lendguard.visibility.decision import DecisionRenderer
from lendguard.visibility.dimensions import active_checks
from lendguard.visibility.engine import (
    decision_columns,
    evaluate_features,
    override_columns,
)
from lendguard.visibility.records import DecisionRecords

# Measured values kept in the population's decision table beside the statuses.
KEY_MEASURES = (
    "region_tier",
    "province",
    "city",
    "security_grade",
    "security_score",
    "sharing_level",
    "client_version",
    "account_class",
    "payments_per_month",
    "wealth_holding_days",
    "credit_history_years",
    "high_risk_contact_share",
    "credit_score",
    "credit_score_model",
    "offline_share",
    "monthly_volatility",
    "night_share",
    "bill_payments_quarter",
    "risk_level",
)


@dataclass(frozen=True)
class PopulationResult:
    features: pl.DataFrame
    decisions: pl.DataFrame  # features plus statuses, advice, dimensions, visibility
    as_of: AsOf
    policy: Policy
    seconds_features: float
    seconds_checks: float
    gated: GatedData


def load_risk_states(store: EventStore, user_id: str | None = None) -> pl.DataFrame:
    """Current anti-fraud risk levels (written by the fraud engine; empty until it runs)."""
    query = select(risk_states.c.user_id, risk_states.c.level, risk_states.c.since, risk_states.c.recovers_at)
    if user_id is not None:
        query = query.where(risk_states.c.user_id == user_id)
    with store.engine.connect() as conn:
        rows = conn.execute(query).all()
    frame = pl.DataFrame(
        [(r[0], r[1], as_utc(r[2]), as_utc(r[3])) for r in rows],
        schema=RISK_STATE_SCHEMA,
        orient="row",
    )
    return frame


def gated_features(
    frames: Mapping[str, pl.LazyFrame | pl.DataFrame],
    policy: Policy,
    as_of: AsOf,
    risk: pl.DataFrame | None = None,
    users: pl.LazyFrame | None = None,
    consent_at: dt.datetime | None = None,
    overrides: pl.DataFrame | None = None,
) -> tuple[GatedData, pl.DataFrame]:
    """What the data gate lets through, and the features computed from it."""
    gated = gate(frames, VISIBILITY_USES, policy, as_of, consent_at or dt.datetime.now(dt.timezone.utc), users)
    return gated, compute_features(gated, as_of, policy, risk, gated.users, override_columns(overrides, policy))


def evaluate_population(
    frames: Mapping[str, pl.LazyFrame | pl.DataFrame],
    policy: Policy,
    as_of: AsOf,
    risk: pl.DataFrame | None = None,
    users: pl.LazyFrame | None = None,
    consent_at: dt.datetime | None = None,
    overrides: pl.DataFrame | None = None,
    scorecard: Scorecard | None = None,
) -> PopulationResult:
    """Decide every user in `frames`, reading only what the data gate lets through under
    the grants in force at `consent_at` (now by default: a withdrawal applies at once).
    `overrides` (user_id, check_code, review_id, reason_code) are checks human reviews cleared.
    `scorecard` is the learned score's model, required when the policy uses the score."""
    started = time.perf_counter()
    gated, features = gated_features(frames, policy, as_of, risk, users, consent_at, overrides)
    features = with_credit_score(features, policy, scorecard)
    middle = time.perf_counter()
    decisions = evaluate_features(features, policy, as_of)
    done = time.perf_counter()
    return PopulationResult(features, decisions, as_of, policy, middle - started, done - middle, gated)


def served_scorecard(policy: Policy, data_dir: Path) -> Scorecard | None:
    """The scorecard the policy's score reads (None when the policy does not use the
    score, or none is there yet); re-read when its file changes."""
    if not score_needed(policy):
        return None
    return served_slot(scorecard_location(policy, data_dir)).get()


def store_features(store: EventStore, policy: Policy, as_of: AsOf, actor: str = "system") -> pl.DataFrame:
    """Every stored user's features (through the data gate, the read logged), without the
    learned score: what a scorecard is trained on, before there is one."""
    overrides = active_check_overrides(store.engine)
    gated, features = gated_features(store.scan_all(), policy, as_of, load_risk_states(store), store.scan_users(), overrides=overrides)
    AccessLog(store.engine, store.data_dir).record(gated, VISIBILITY_USES, actor)
    return features


def evaluate_store(store: EventStore, policy: Policy, as_of: AsOf, actor: str = "system") -> PopulationResult:
    overrides = active_check_overrides(store.engine)
    card = served_scorecard(policy, store.data_dir)
    result = evaluate_population(store.scan_all(), policy, as_of, load_risk_states(store), store.scan_users(), overrides=overrides, scorecard=card)
    AccessLog(store.engine, store.data_dir).record(result.gated, VISIBILITY_USES, actor)
    return result


def evaluate_user(store: EventStore, policy: Policy, as_of: AsOf, user_id: str, actor: str = "system") -> PopulationResult | None:
    """One user's features and decision, computed by the same engine from that user's events
    alone (None when the user has no events); the read is logged."""
    events = store.user_events(user_id)
    if not any(frame.height for frame in events.values()):
        return None
    overrides = active_check_overrides(store.engine, [user_id])
    card = served_scorecard(policy, store.data_dir)
    result = evaluate_population(events, policy, as_of, load_risk_states(store, user_id), overrides=overrides, scorecard=card)
    AccessLog(store.engine, store.data_dir).record(result.gated, VISIBILITY_USES, actor, user_id=user_id)
    return result


def decide_user(store: EventStore, policy: Policy, as_of: AsOf, user_id: str, actor: str = "system") -> dict[str, Any] | None:
    """One user's decision row."""
    result = evaluate_user(store, policy, as_of, user_id, actor)
    if result is None:
        return None
    rows = result.decisions.filter(pl.col("user_id") == user_id).to_dicts()
    return rows[0] if rows else None


RENDERED_IN_MEMORY = 20_000
_DOCUMENT = msgspec.json.Encoder()


class _Outcome(msgspec.Struct):
    visible: bool
    reason_codes: list[str]


class Served(NamedTuple):
    """A decision as it is sent: the JSON document, and the outcome metrics count.

    Bytes and a tuple of strings, not a tree of dicts: the garbage collector does not track
    them, so thousands remembered do not lengthen its pauses."""

    body: bytes
    visible: bool
    reason_codes: tuple[str, ...]

    @classmethod
    def of(cls, body: bytes) -> Served:
        outcome = msgspec.json.decode(body, type=_Outcome)
        return cls(body, outcome.visible, tuple(outcome.reason_codes))

    def document(self) -> dict[str, Any]:
        return msgspec.json.decode(self.body)


def rendering_digest(row_text: str, decided_at: dt.datetime, cache_key: str) -> str:
    """What a rendered document depends on: the cached row, when it was decided, the policy
    (and scorecard) it was decided under, and the release that renders it."""
    head = f"{__version__}\0{decided_at.isoformat()}\0{cache_key}\0".encode()
    return hashlib.sha256(head + row_text.encode()).hexdigest()


class VisibilityService:
    """Serves decisions: from the cache when it holds today's row, else computed and cached."""

    def __init__(self, store: EventStore, policy: Policy, evidence: SharedLog | None = None):
        self.store = store
        self.policy = policy
        self.cache = DecisionCache(store.engine, policy.timezone)
        self.records = DecisionRecords(store.engine, store.data_dir, evidence)
        self._schemas: dict[tuple, pl.Schema] = {}
        # The last decision served per user, with the cached row (text, moment, cache key)
        # it was rendered from: served again while the shared cache still holds that very
        # row, without decoding or rendering. The row is read from the shared cache each
        # time, so a row another process replaced or dropped is never served from here.
        self._rendered: OrderedDict[str, tuple[str, dt.datetime, str, Served]] = OrderedDict()
        self._rendered_lock = threading.Lock()

    def cache_key(self, card: Scorecard | None) -> str:
        """Cached rows are valid for one policy and, when it uses the score, one scorecard."""
        return self.key_of(None if card is None else card.meta.get("sha256"))

    def key_of(self, model_sha256: str | None) -> str:
        if model_sha256 is None:
            return self.policy.sha256
        return hashlib.sha256(f"{self.policy.sha256}:{model_sha256}".encode()).hexdigest()

    def row_schema(self, as_of: AsOf, card: Scorecard | None = None) -> pl.Schema:
        key = (as_of.local_date, as_of.months)
        if key not in self._schemas:
            self._schemas[key] = evaluate_population({}, self.policy, as_of, scorecard=card).decisions.schema
        return self._schemas[key]

    def decision_row(self, user_id: str, as_of: AsOf) -> dict[str, Any] | None:
        card = served_scorecard(self.policy, self.store.data_dir)
        schema, key = self.row_schema(as_of, card), self.cache_key(card)
        row = self.cache.get(user_id, as_of.at, key, schema)
        return row if row is not None else self._decide_and_cache(user_id, as_of, schema)

    def _decide_and_cache(self, user_id: str, as_of: AsOf, schema: pl.Schema) -> dict[str, Any] | None:
        row = decide_user(self.store, self.policy, as_of, user_id)
        if row is not None:  # filed under the scorecard that decided it, should a new one have landed meanwhile
            self.cache.put(pl.DataFrame([row], schema=schema), as_of.at, self.key_of(row.get(MODEL)))
        return row

    def _served(self, user_id: str, as_of: AsOf):
        """The decision already rendered from the user's cached row, if any, and what a
        full rendering needs otherwise. (Cheap: it runs on the server's event loop.)"""
        card = served_scorecard(self.policy, self.store.data_dir)
        key = self.cache_key(card)
        cached = self.cache.raw(user_id, as_of.at, key)
        if cached is not None:
            with self._rendered_lock:
                remembered = self._rendered.get(user_id)
            if remembered is not None and remembered[:3] == (cached.text, cached.decided_at, key):
                return remembered[3], cached, key, card
        return None, cached, key, card

    def warm(self, as_of: AsOf) -> None:
        """Build what the first decision of the day would otherwise build while a request
        waits (the row schema takes about 0.1 s): a server calls this before it serves."""
        self.row_schema(as_of, served_scorecard(self.policy, self.store.data_dir))

    def served_decision(self, user_id: str, as_of: AsOf) -> Served | None:
        """The decision if this process has rendered the user's current cached row already
        (one indexed read, no rendering): the API answers it without a worker thread."""
        return self._served(user_id, as_of)[0]

    def decision(self, user_id: str, as_of: AsOf) -> dict[str, Any] | None:
        """The full decision document of one user (None if the user has no events)."""
        served = self.serve(user_id, as_of)
        return None if served is None else served.document()

    def serve(self, user_id: str, as_of: AsOf) -> Served | None:
        """The user's decision as sent (None if the user has no events).

        A cached row is rendered as of the moment it was decided (its features were read
        then), not the moment it is asked for: so the same decision served all day is one
        document, stored and logged as evidence once. Each distinct document names its
        `record_id`. A document another process rendered from the same row is read, not
        rendered again.
        """
        served, cached, key, card = self._served(user_id, as_of)
        if served is not None:
            return served
        schema = self.row_schema(as_of, card)
        row = None
        if cached is None:
            row = self._decide_and_cache(user_id, as_of, schema)
            if row is None:
                return None
            key = self.key_of(row.get(MODEL))
            cached = self.cache.raw(user_id, as_of.at, key)
            if cached is not None and cached.decided_at != as_of.at:
                cached = None  # replaced meanwhile: render what was decided here, remember nothing
        digest = None if cached is None else rendering_digest(cached.text, cached.decided_at, key)
        shared = None if digest is None else self.cache.rendered(user_id, digest)
        if shared is not None:  # another process rendered this very row
            served = Served.of(shared.encode())
        else:
            if row is None:
                row = self.cache.decode(cached.text, schema)
                as_of = replace(as_of, at=cached.decided_at)
            document = DecisionRenderer(self.policy, as_of).decision(row)
            served = Served.of(_DOCUMENT.encode({**document, "record_id": self.records.keep(document)}))
            if digest is not None:  # after its evidence record, so a shared document always has one
                self.cache.keep_rendered(user_id, digest, served.body.decode())
        if cached is not None:
            with self._rendered_lock:
                self._rendered[user_id] = (cached.text, cached.decided_at, key, served)
                self._rendered.move_to_end(user_id)
                if len(self._rendered) > RENDERED_IN_MEMORY:
                    self._rendered.popitem(last=False)
        return served

    def close(self) -> None:
        """Release the evidence log the records opened (a server calls this on shutdown)."""
        self.records.close()

    def evaluate_all(self, as_of: AsOf) -> PopulationResult:
        """Decide the whole population and refresh the cache with its rows."""
        result = evaluate_store(self.store, self.policy, as_of)
        self.cache.put(result.decisions, as_of.at, self.key_of(deciding_scorecard(result.decisions)))
        return result


def decision_table(decisions: pl.DataFrame, policy: Policy) -> pl.DataFrame:
    """The compact per-user table written as Parquet: statuses, advice and key measures."""
    advice = [c for c in decisions.columns if "__" in c]
    keep = decision_columns(policy) + [m for m in KEY_MEASURES if m in decisions.columns] + advice
    return decisions.select(keep)


def write_decisions(
    result: PopulationResult,
    out_dir: Path,
    jsonl: bool = True,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Path]:
    """decisions.parquet (the table) and decisions.jsonl (one compact decision per user)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    table = decision_table(result.decisions, result.policy).with_columns(
        pl.lit(result.policy.version).alias("policy_version"),
        pl.lit(result.policy.sha256).alias("policy_sha256"),
        pl.lit(result.as_of.at).alias("as_of"),
    )
    parquet_path = out_dir / "decisions.parquet"
    table.write_parquet(parquet_path, compression="zstd")
    written["parquet"] = parquet_path
    if jsonl:
        renderer = DecisionRenderer(result.policy, result.as_of)
        encoder = msgspec.json.Encoder()
        jsonl_path = out_dir / "decisions.jsonl"
        with open(jsonl_path, "wb") as handle:
            for chunk in result.decisions.iter_slices(10_000):
                lines = [encoder.encode(renderer.decision(row, include_passing=False)) for row in chunk.iter_rows(named=True)]
                handle.write(b"\n".join(lines) + b"\n")
                if progress:
                    progress(chunk.height)
        written["jsonl"] = jsonl_path
    meta = {
        "users": result.decisions.height,
        "visible": int(result.decisions["visible"].sum()),
        "as_of": result.as_of.at.isoformat(),
        "policy_version": result.policy.version,
        "policy_sha256": result.policy.sha256,
        "checks": [c.code for c in active_checks(result.policy)],
        "scorecard_sha256": deciding_scorecard(result.decisions),
    }
    (out_dir / "decisions.meta.json").write_text(json.dumps(meta, indent=2))
    return written

