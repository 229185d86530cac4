"""What every fraud detector emits: a signal that a rule hit a user, with its evidence.

Streaming rules and the periodic graph job both produce `Signal`s; the risk book
(`fraud/book.py`) turns them into level transitions (R0–R3), stores them and tells the
rest of the system. Detectors never write risk levels themselves.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Any

LEVELS = ("R0", "R1", "R2", "R3")


def level_rank(level: str) -> int:
    return LEVELS.index(level)


@dataclass(frozen=True)
class Signal:
    """A rule hit: `rule_id` raises `level` for `user_id` at event time `at`.

    `key` is the value the rule was keyed by (a device id, an IP, a counterparty, the
    user); `evidence` the ids of the events (or ring members) that made it hit; `details`
    the measured values (e.g. {"accounts": 4, "threshold": 3}).
    """

    rule_id: str
    user_id: str
    level: str
    at: dt.datetime
    key: str = ""
    evidence: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def signal_id(self) -> str:
        """Deterministic: the same hit replayed after a crash has the same id."""
        text = f"{self.rule_id}|{self.user_id}|{self.level}|{self.at.isoformat()}|{self.key}"
        return "sig-" + hashlib.sha256(text.encode()).hexdigest()[:24]
