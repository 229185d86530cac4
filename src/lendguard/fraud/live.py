"""The fraud engine inside the API process: events accepted by `POST /v1/events` are
applied at once, one request at a time, and the state is checkpointed on shutdown and
every `checkpoint_every` events."""

from __future__ import annotations

import threading
from pathlib import Path

from lendguard.fraud.book import Transition
from lendguard.fraud.runner import FraudRunner
from lendguard.policy import Policy


class LiveFraud:
    def __init__(self, data_dir: Path, policy: Policy):
        self.data_dir = Path(data_dir)
        self.policy = policy
        self._runner: FraudRunner | None = None
        self._lock = threading.Lock()
        self._since = 0

    def feed(self, events: list) -> list[Transition]:
        with self._lock:
            if self._runner is None:
                self._runner = FraudRunner(self.data_dir, self.policy, name="api", actor="api")
            made = self._runner.feed_events(events)
            self._since += len(events)
            if self._since >= self.policy.fraud.checkpoint_every:
                self._runner.checkpoint()
                self._since = 0
            return made

    def close(self) -> None:
        with self._lock:
            if self._runner is not None:
                self._runner.checkpoint()
