"""Runs the fraud engine over a source of raw events with exactly-once effect.

Sources are numbered (a file's line, a JetStream sequence). The runner validates each
event (rejects go to the dead letter, with the reason), feeds the engine, applies the
signals of each micro-batch to the risk book, and every `checkpoint_every` events saves
the engine's state with the source and the last offset applied. After a crash it
resumes from that checkpoint and skips what it had applied; transitions already
stored are recognised by their ids, so the set of transitions is that of a run that
never stopped.
"""

from __future__ import annotations

import datetime as dt
import gc
import os
import pickle
import time
from array import array
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lendguard.consent.access_log import AccessLog
from lendguard.consent.state import active_grants
from lendguard.consent.uses import ROWS, DataUse
from lendguard.events.ingest import dead_letter_for
from lendguard.events.validation import EventValidator, Rejection, raw_text
from lendguard.evidence.shared import SharedLog
from lendguard.fraud.book import RiskBook, Transition
from lendguard.fraud.disposition import open_r2_reviews
from lendguard.fraud.engine import FraudEngine, TooLate
from lendguard.fraud.flagged import flagged_accounts
from lendguard.fraud.rules import moment
from lendguard.fraud.signals import Signal
from lendguard.policy import Policy
from lendguard.reviews.service import ReviewService
from lendguard.store.events import EventStore
from lendguard.store.files import write_atomically

MICRO_BATCH = 256  # events per risk-book update: bounds the arrival-to-decision latency


@contextmanager
def collector_paused() -> Iterator[None]:
    """No garbage collection while a checkpoint is pickled or unpickled: the millions of
    objects it makes would trigger full passes over the engine's state (seconds each)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@dataclass
class RunReport:
    received: int = 0
    applied: int = 0
    skipped: int = 0  # offsets a checkpoint already covered
    rejected: int = 0
    withheld: int = 0  # events whose data the user's grants do not open to fraud checks
    signals: int = 0
    transitions: list[Transition] = field(default_factory=list)
    checkpoints: int = 0
    seconds: float = 0.0
    latencies_ms: array = field(default_factory=lambda: array("d"))  # arrival -> decision, per event

    def as_dict(self) -> dict[str, Any]:
        by_rule: dict[str, int] = {}
        for t in self.transitions:
            by_rule[t.rule_id] = by_rule.get(t.rule_id, 0) + 1
        return {
            "received": self.received, "applied": self.applied, "skipped": self.skipped, "rejected": self.rejected,
            "withheld": self.withheld, "signals": self.signals, "transitions": len(self.transitions),
            "transitions_by_rule": by_rule, "checkpoints": self.checkpoints, "seconds": round(self.seconds, 3),
        }


class FraudRunner:
    """One engine, its checkpoint file and the stores its effects go to."""

    def __init__(self, data_dir: str | Path, policy: Policy, name: str = "default", actor: str = "fraud-engine", reviews: bool = True):
        self.data_dir = Path(data_dir)
        self.policy = policy
        self.store = EventStore(self.data_dir)
        self.actor = actor
        self.open_reviews = reviews
        self.path = self.data_dir / "fraud" / f"checkpoint-{name}.bin"
        self.validator = EventValidator(policy.events, policy=policy)
        self.dead_letter = dead_letter_for(self.data_dir)
        self.source: str | None = None
        self.offset = 0
        fresh = not self.path.exists()
        if fresh:
            self.engine = FraudEngine(policy)
        else:
            with collector_paused():
                saved = pickle.loads(self.path.read_bytes())
            self.engine = FraudEngine(policy, saved["state"])
            self.source, self.offset = saved["source"], saved["offset"]
        self.evidence = SharedLog(self.data_dir)
        self.book = RiskBook(self.store.engine, policy, self.engine.state.levels, self.evidence)
        if fresh:
            self._seed()
        self._since_checkpoint = 0
        self._writer = 0  # pid of a checkpoint being written in the background
        self._reviews: ReviewService | None = None  # opened at the first R2
        self.uses = {
            name: DataUse(name, ROWS, policy.fraud.purpose) for name in policy.consent.categories
        }

    def _seed(self) -> None:
        """A fresh engine starts from the grants in force, the stored levels and the
        accounts already flagged."""
        purpose = self.policy.fraud.purpose
        grants = active_grants(self.store.scan("consent"), dt.datetime.now(dt.timezone.utc)).collect()
        for user_id, scope in grants.filter(grants["purpose"] == purpose).select("user_id", "scope").iter_rows():
            self.engine.grant(user_id, scope)
        self.engine.state.levels.update(self.book.stored_levels())
        self.engine.flag(flagged_accounts(self.store.engine, self.engine.flag_levels))

    # ---- feeding -----------------------------------------------------------------------------
    def feed(self, items: Iterable[tuple[int, Any]], source: str, progress: Callable[[int], None] | None = None) -> RunReport:
        """Process numbered raw events (offsets increasing) from `source`."""
        report = RunReport()
        started = time.perf_counter()
        resume_after = self.offset if source == self.source else 0
        if source != self.source:
            self.source, self.offset = source, 0
        pending: list[Signal] = []
        arrivals: list[float] = []
        rejected: list[Rejection] = []
        every = self.policy.fraud.checkpoint_every
        validate, process, clock = self.validator.validate_one, self.engine.process, time.perf_counter
        since_checkpoint = self._since_checkpoint
        for offset, raw in items:
            if offset <= resume_after:
                report.skipped += 1
                continue
            arrivals.append(clock())
            outcome = validate(raw, source, offset)
            if type(outcome) is Rejection:
                rejected.append(outcome)
            else:
                try:
                    found = process(outcome)
                    if found:
                        pending += found
                except TooLate as exc:
                    rejected.append(Rejection(source, offset, "ts", str(exc), raw_text(raw), outcome.event_id))
            since_checkpoint += 1
            if len(arrivals) >= MICRO_BATCH or since_checkpoint >= every:
                self.offset, self._since_checkpoint = offset, since_checkpoint
                self._flush(pending, arrivals, rejected, report)
                pending, arrivals, rejected = [], [], []
                if progress:
                    progress(MICRO_BATCH)
                if since_checkpoint >= every:
                    report.checkpoints += self.checkpoint(background=True)
                    since_checkpoint = 0
            last = offset
        if arrivals or rejected:
            self.offset, self._since_checkpoint = last, since_checkpoint
        self._flush(pending, arrivals, rejected, report)
        report.received += report.skipped
        gc.unfreeze()  # what the stream left behind is the collector's again
        report.withheld = sum(self.engine.state.withheld.values())
        report.seconds = time.perf_counter() - started
        return report

    def feed_events(self, events: list[Any]) -> list[Transition]:
        """Already validated events (the HTTP API's accepted ones): applied at once, no offsets."""
        signals: list[Signal] = []
        for event in events:
            try:
                signals += self.engine.process(event)
            except TooLate as exc:
                self.dead_letter.write([Rejection("http", 0, "ts", str(exc), "", event.event_id)])
        made = self.book.apply(signals)
        self._dispose(made)
        return made

    def _flush(self, pending: list[Signal], arrivals: list[float], rejected: list[Rejection], report: RunReport) -> None:
        # The windows are millions of long-lived objects: moving them out of the collector's
        # view keeps its full passes from rescanning them all (they hold no reference cycles).
        gc.freeze()
        self.dead_letter.write(rejected)  # kept before anything is acknowledged
        report.received += len(arrivals)
        report.applied += len(arrivals) - len(rejected)
        report.rejected += len(rejected)
        report.signals += len(pending)
        made = self.book.decide(pending)
        done = time.perf_counter()  # the levels are in force: the events' decision is made
        report.latencies_ms.extend([(done - a) * 1000 for a in arrivals])
        self.book.log(made)
        self._dispose(made)
        report.transitions += made

    def _dispose(self, made: list[Transition]) -> None:
        if made and self.open_reviews:
            if self._reviews is None:
                self._reviews = ReviewService(self.store.engine, self.policy, self.evidence.get())
            open_r2_reviews(self._reviews, self.policy, made)

    # ---- ending and checkpoints ---------------------------------------------------------------
    def recover_due(self) -> list[Transition]:
        """R1 levels whose recovery time the stream's newest event time has passed."""
        newest = self.engine.state.newest_us
        return [] if newest is None else self.book.recover_due(moment(newest))

    def checkpoint(self, background: bool = False) -> bool:
        """Log the reads since the last checkpoint, then save state and offset in one file,
        atomically (write, fsync, rename). A crash in between logs those reads twice,
        never not at all.

        With `background` (during a run, where the OS can fork), a forked child writes
        the copy-on-write snapshot of this moment while the stream goes on: pickling
        millions of windows takes seconds. At most one child runs; an older checkpoint
        stays in place until the new one is complete, so a crash at any point resumes
        from a consistent state and offset."""
        reads = self.engine.take_reads()
        AccessLog(self.store.engine, self.data_dir).record_reads(
            "fraud", {self.uses[category]: users for category, users in reads.items()}, self.actor
        )
        self._since_checkpoint = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if background and not self._writer_done(block=False):
            return False  # the previous snapshot is still being written: the stream does not wait for it
        self._writer_done(block=True)
        if background and hasattr(os, "fork"):
            pid = os.fork()
            if pid == 0:  # the child: write the snapshot and leave without cleanup handlers
                code = 1
                try:
                    self._write_checkpoint()
                    code = 0
                finally:
                    os._exit(code)
            self._writer = pid
            return True
        self._write_checkpoint()
        return True

    def _write_checkpoint(self) -> None:
        saved = {"source": self.source, "offset": self.offset, "saved_at": dt.datetime.now(dt.timezone.utc), "state": self.engine.state}
        with collector_paused():
            data = pickle.dumps(saved, protocol=pickle.HIGHEST_PROTOCOL)
        write_atomically(self.path, data)

    def _writer_done(self, block: bool) -> bool:
        """Whether no background writer is running (reaping a finished one, checking it succeeded)."""
        if not self._writer:
            return True
        pid, status = os.waitpid(self._writer, 0 if block else os.WNOHANG)
        if pid == 0:
            return False
        self._writer = 0
        if status != 0:
            raise RuntimeError(f"the checkpoint writer failed (status {status}); {self.path} holds the previous checkpoint")
        return True

    def close(self) -> None:
        """The final checkpoint, written before returning."""
        self.checkpoint()
        self.evidence.close()



