"""Assemble the dashboard's sections for one data directory under one policy.

Each section comes from the module that knows it (population, funnel, scores, fraud,
reviews, portfolio, compliance); the expensive inputs are cached until the files they were
read from change (`cache.py`), so a refresh costs file stats and a few small queries. A part
that is missing gives an empty section with a message; a part that fails gives an error
section with the reason, and the other sections still load.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from lendguard.dashboard import sources
from lendguard.dashboard.cache import FileCache
from lendguard.dashboard.compliance import compliance_section
from lendguard.dashboard.fraud import TRANSITION_SCHEMA, fraud_section
from lendguard.dashboard.funnel import authorization_section, funnel_section
from lendguard.dashboard.population import population_section
from lendguard.dashboard.portfolio import portfolio_section
from lendguard.dashboard.reviews import reviews_section
from lendguard.dashboard.scores import scores_section
from lendguard.dashboard.section import empty, failed, plain
from lendguard.features.window import AsOf
from lendguard.fraud.evaluation import LABELS_FILE, evaluate_detection, load_labels
from lendguard.loans.database import DATABASE_URL_ENV, has_ledger, open_ledger
from lendguard.loans.population import population_offers
from lendguard.loans.portfolio import YEAR_FILE, book_snapshot, read_year
from lendguard.policy import Policy
from lendguard.scoring.artifact import scorecard_location, served_slot
from lendguard.scoring.scorecard import ScorecardError
from lendguard.store.events import EventStore
from lendguard.synth.generate import synthetic_as_of

logger = logging.getLogger("lendguard.dashboard")

SECTIONS = ("population", "funnel", "authorization", "scores", "fraud", "reviews", "portfolio", "compliance")
EXTERNAL_LEDGER_SECONDS = 30  # a ledger in another database has no file to stamp: re-read this often
OFFER_COLUMNS = ("user_id", "product_id", "admitted")
NO_EVENTS = ("No events are stored in this data directory yet.", "此数据目录中尚未存储任何事件。")


class Dashboard:
    """The dashboard of one data directory: its stores opened once, its results cached."""

    def __init__(self, data_dir: Path, policy: Policy, clock: Callable[[], dt.datetime] | None = None):
        self.data_dir = Path(data_dir)
        self.policy = policy
        self.cache = FileCache()
        self.clock = clock or (lambda: dt.datetime.now(dt.timezone.utc))
        self._store: EventStore | None = None
        self._ledger: sessionmaker[Session] | None = None
        self._open = threading.Lock()

    # ---- stores, opened on first use (an empty directory is left untouched) -----------------
    def store(self) -> EventStore | None:
        with self._open:
            if self._store is None and (self.data_dir / sources.CATALOG_FILE).exists():
                self._store = EventStore(self.data_dir)
            return self._store

    def catalog(self) -> Engine | None:
        store = self.store()
        return None if store is None else store.engine

    def ledger(self) -> sessionmaker[Session] | None:
        with self._open:
            if self._ledger is None and has_ledger(self.data_dir):
                self._ledger = open_ledger(self.data_dir)
            return self._ledger

    # ---- what the cache keys on ---------------------------------------------------------------
    def _files(self, *names: str) -> list[Path]:
        return [self.data_dir / name for name in names]

    def _catalog_files(self) -> list[Path]:
        return self._files(sources.CATALOG_FILE, sources.CATALOG_FILE + "-wal")

    def _ledger_key(self) -> tuple[list[Path], Any]:
        if os.environ.get(DATABASE_URL_ENV):
            return [], int(time.time() // EXTERNAL_LEDGER_SECONDS)
        return self._files("ledger.sqlite", "ledger.sqlite-wal", YEAR_FILE), ()

    def _scorecard(self) -> tuple[Path, Path]:
        slot = served_slot(scorecard_location(self.policy, self.data_dir))
        return slot.location, slot.file

    # ---- the inputs ------------------------------------------------------------------------------
    def decisions(self) -> pl.DataFrame | None:
        return self.cache.get("decisions", [self.data_dir / sources.DECISIONS_FILE], lambda: sources.read_decisions(self.data_dir))

    def as_of(self, decisions: pl.DataFrame | None) -> dt.datetime:
        """The moment the numbers describe: the evaluation's, else the synthetic population's, else now."""
        return sources.decided_at(decisions) or synthetic_as_of(self.data_dir) or self.clock()

    def consent_actions(self, at: dt.datetime) -> pl.DataFrame | None:
        store = self.store()
        if store is None:
            return None
        return self.cache.get("consents", self._files("events/consent"), lambda: sources.consent_actions(store, at), extra=at)

    def derived(self, decisions: pl.DataFrame | None, at: dt.datetime) -> tuple[pl.DataFrame | None, dict[str, Any]]:
        """The population's offers (user, product, admitted) and the scores section: both need
        every user's features, computed once per change of the events, decisions or model."""
        location, model = self._scorecard()
        paths = [self.data_dir / "events", self.data_dir / sources.DECISIONS_FILE, model]
        return self.cache.get("derived", paths, lambda: self._derive(decisions, at, location), extra=(at, self.policy.sha256))

    def _derive(self, decisions: pl.DataFrame | None, at: dt.datetime, location: Path) -> tuple[pl.DataFrame | None, dict[str, Any]]:
        store = self.store()
        as_of = AsOf.of(at, self.policy)
        features = None if store is None else sources.population_features(store, self.policy, as_of)
        offers = None
        if features is not None and decisions is not None:
            frame = features.join(decisions.select("user_id", "visible"), on="user_id", how="inner")
            offers = population_offers(frame, self.policy, as_of.local_date).select(OFFER_COLUMNS)
        try:
            card = served_slot(location).get()
            scores = scores_section(card, features, self.policy, str(location))
        except ScorecardError as exc:
            scores = failed(exc)
        return offers, scores

    # ---- the sections ----------------------------------------------------------------------------
    def _population(self, decisions: pl.DataFrame | None) -> dict[str, Any]:
        return self.cache.get("population", [self.data_dir / sources.DECISIONS_FILE], lambda: population_section(decisions, self.policy), extra=self.policy.sha256)

    def _funnels(self, decisions: pl.DataFrame | None, at: dt.datetime) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """The funnel, the authorization refusal rate and the scores (they share their inputs)."""
        actions = self.consent_actions(at)
        if actions is None:
            return empty(*NO_EVENTS), empty(*NO_EVENTS), empty(*NO_EVENTS)
        offers, scores = self.derived(decisions, at)
        sessions = self.ledger()
        paths, extra = self._ledger_key()
        lines = None if sessions is None else self.cache.get("lines", paths, lambda: sources.users_with_lines(sessions), extra=extra)
        return funnel_section(decisions, actions, offers, lines, self.policy), authorization_section(actions, self.policy), scores

    def _fraud(self) -> dict[str, Any]:
        engine = self.catalog()
        if engine is None:
            return empty(*NO_EVENTS)
        at = synthetic_as_of(self.data_dir) or self.clock()

        def compute() -> dict[str, Any]:
            from lendguard.fraud.book import transitions
            from lendguard.fraud.graph_job import fraud_rings, list_rings

            has_transitions = sources.has_table(engine, "risk_transitions")
            rings = [found.ring for found in list_rings(engine, limit=1_000_000)] if sources.has_table(engine, fraud_rings.name) else []
            labels = load_labels(self.data_dir)
            detection = evaluate_detection(engine, labels) if labels is not None and has_transitions else None
            return fraud_section(
                sources.risk_levels(engine), sources.all_transitions(engine, TRANSITION_SCHEMA),
                transitions(engine, limit=15) if has_transitions else [], rings, detection, at, self.policy,
            )

        return self.cache.get("fraud", [*self._catalog_files(), self.data_dir / LABELS_FILE], compute, extra=at)

    def _reviews(self) -> dict[str, Any]:
        engine = self.catalog()
        reviews = [] if engine is None else sources.stored_reviews(engine)
        return reviews_section(reviews, self.clock(), self.policy)

    def _portfolio(self) -> dict[str, Any]:
        sessions = self.ledger()
        if sessions is None:
            return portfolio_section(None, None, self.policy)
        paths, extra = self._ledger_key()

        def compute() -> dict[str, Any]:
            from lendguard.loans.book import LoanBook

            return portfolio_section(book_snapshot(LoanBook(sessions, self.policy)), read_year(self.data_dir), self.policy)

        return self.cache.get("portfolio", paths, compute, extra=extra)

    def _compliance(self) -> dict[str, Any]:
        return self.cache.get("compliance", [], lambda: compliance_section(self.policy), extra=self.policy.sha256)

    # ---- the whole page's data -----------------------------------------------------------------
    def data(self) -> dict[str, Any]:
        started = time.perf_counter()
        sections: dict[str, Any] = {}

        def guarded(names: tuple[str, ...], compute: Callable[[], Any]) -> None:
            try:
                found = compute()
                found = found if isinstance(found, tuple) else (found,)
            except Exception as exc:  # one broken part must not take the page down
                logger.exception("dashboard sections %s failed", ", ".join(names))
                found = tuple(failed(exc) for _ in names)
            sections.update(zip(names, found, strict=True))

        decisions: pl.DataFrame | None = None
        try:
            decisions = self.decisions()
        except Exception as exc:
            logger.exception("cannot read the decisions")
            sections["population"] = failed(exc)
        at = self.as_of(decisions)
        if "population" not in sections:
            guarded(("population",), lambda: self._population(decisions))
        guarded(("funnel", "authorization", "scores"), lambda: self._funnels(decisions, at))
        guarded(("fraud",), self._fraud)
        guarded(("reviews",), self._reviews)
        guarded(("portfolio",), self._portfolio)
        guarded(("compliance",), self._compliance)
        return plain({
            "generated_at": self.clock(),
            "as_of": at,
            "synthetic": synthetic_as_of(self.data_dir) is not None,
            "policy": {"version": self.policy.version, "sha256": self.policy.sha256},
            "seconds": round(time.perf_counter() - started, 3),
            "sections": {name: sections[name] for name in SECTIONS},
        })

    def close(self) -> None:
        if self._ledger is not None:
            self._ledger.kw["bind"].dispose()
        if self._store is not None:
            self._store.engine.dispose()


_DASHBOARDS: dict[tuple[Path, str], Dashboard] = {}
_REGISTRY = threading.Lock()


def dashboard_for(data_dir: Path, policy: Policy) -> Dashboard:
    """The one Dashboard per data directory and policy, so its cache outlives a request."""
    key = (Path(data_dir).resolve(), policy.sha256)
    with _REGISTRY:
        if key not in _DASHBOARDS:
            _DASHBOARDS[key] = Dashboard(Path(data_dir), policy)
        return _DASHBOARDS[key]


def dashboard_data(data_dir: Path, policy: Policy) -> dict[str, Any]:
    """Every section of the dashboard as JSON-ready data (see docs/dashboard.md)."""
    return dashboard_for(data_dir, policy).data()
