"""Validate raw events one by one: a bad event is rejected with where and why, never dropped.

Type and shape checks come from the schema classes (msgspec); the rules that need the
policy or the clock (decimal places, positive amounts, events from the future) live here.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import msgspec

from lendguard.events.schema import AnyEvent, Consent, Event
from lendguard.policy.model import EventRules

if TYPE_CHECKING:
    from lendguard.policy import Policy

_DECODER = msgspec.json.Decoder(AnyEvent)
_FIELD_IN_MESSAGE = re.compile(r" - at `\$\.?([^`]*)`$")
# Money fields that may be zero (balances, assets); every other money field must be > 0.
_ZERO_ALLOWED = {"balance", "assets"}


@dataclass(frozen=True)
class Rejection:
    """One rejected event: where it came from, which field, and why."""

    source: str
    position: int  # 1-based line (JSON Lines), row (Parquet) or index (HTTP batch)
    field: str | None
    message: str
    raw: str
    event_id: str | None = None

    def describe(self) -> str:
        where = f"{self.source}:{self.position}"
        what = f"field '{self.field}': " if self.field else ""
        return f"{where}: {what}{self.message}"

    def to_record(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "position": self.position,
            "field": self.field,
            "message": self.message,
            "event_id": self.event_id,
            "raw": self.raw,
        }


@dataclass
class ValidationResult:
    accepted: list[Event] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)


class EventValidator:
    """Checks raw events against the schema and the policy's event rules."""

    def __init__(self, rules: EventRules, now: dt.datetime | None = None, policy: Policy | None = None):
        self.rules = rules
        self.now = now
        self.policy = policy  # when given, consent events are checked against its scopes and texts
        self._quantum = Decimal(1).scaleb(-rules.amount_decimals)
        self._tolerance = dt.timedelta(seconds=rules.future_tolerance_seconds)
        self._clock_read = float("-inf")
        self._latest = dt.datetime.min.replace(tzinfo=dt.timezone.utc)

    def _latest_allowed(self) -> dt.datetime:
        if self.now is not None:
            return self.now + self._tolerance
        tick = time.monotonic()
        if tick - self._clock_read > 0.1:  # a stream of events needs the clock, not each time
            self._latest = dt.datetime.now(dt.timezone.utc) + self._tolerance
            self._clock_read = tick
        return self._latest

    def check(self, event: Event) -> tuple[str | None, str] | None:
        """Policy checks on a decoded event: None if fine, else (field, message)."""
        latest = self._latest_allowed()
        if event.ts > latest:
            return "ts", (
                f"time {event.ts.isoformat()} is in the future beyond the "
                f"{self.rules.future_tolerance_seconds}s tolerance"
            )
        money, dates = _checked_fields(type(event))
        for name in money:
            value = getattr(event, name)
            if value is not None:
                problem = self._check_money(name, value)
                if problem:
                    return name, problem
        for name in dates:
            value = getattr(event, name)
            if value is not None and value > latest.date():
                return name, f"date {value.isoformat()} is in the future"
        if self.policy is not None and isinstance(event, Consent):
            from lendguard.consent.grants import consent_problems

            problems = consent_problems(event.scope, event.purposes, event.text_version, event.text_hash, self.policy)
            if problems:
                return problems[0]
        return None

    def _check_money(self, name: str, value: Decimal) -> str | None:
        if not value.is_finite():
            return f"amount {value} is not a finite number"
        if value < 0 or (value == 0 and name not in _ZERO_ALLOWED):
            return f"amount {value} must be {'>= 0' if name in _ZERO_ALLOWED else '> 0'}"
        if value != value.quantize(self._quantum):
            return f"amount {value} has more than {self.rules.amount_decimals} decimal places"
        if value > self.rules.max_amount:
            return f"amount {value} exceeds the maximum {self.rules.max_amount}"
        return None

    def validate_one(self, raw: bytes | str | dict, source: str, position: int) -> Event | Rejection:
        try:
            if isinstance(raw, dict):
                event = msgspec.convert(raw, AnyEvent)
            else:
                event = _DECODER.decode(raw)
        except msgspec.ValidationError as exc:
            return _rejection(source, position, raw, str(exc))
        except msgspec.DecodeError as exc:
            return Rejection(source, position, None, f"not valid JSON: {exc}", raw_text(raw))
        problem = self.check(event)
        if problem:
            return Rejection(source, position, problem[0], problem[1], raw_text(raw), event.event_id)
        return event

    def validate_many(self, items: Iterable[tuple[int, bytes | str | dict]], source: str) -> ValidationResult:
        result = ValidationResult()
        for position, raw in items:
            outcome = self.validate_one(raw, source, position)
            if isinstance(outcome, Rejection):
                result.rejected.append(outcome)
            else:
                result.accepted.append(outcome)
        return result


@functools.cache
def _checked_fields(cls: type[Event]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(money fields, `since` date fields) of an event class: what `check` looks at."""
    hints = msgspec.structs.fields(cls)
    money = tuple(f.name for f in hints if "Decimal" in str(f.type))
    dates = tuple(f.name for f in hints if f.name == "since")
    return money, dates


def _rejection(source: str, position: int, raw: Any, message: str) -> Rejection:
    match = _FIELD_IN_MESSAGE.search(message)
    field_name = match.group(1) if match else None
    text = _FIELD_IN_MESSAGE.sub("", message)
    if text.startswith("Object contains unknown field"):
        field_name = text.split("`")[1]
        text = "unknown field (not part of this event type)"
    elif text.startswith("Object missing required field"):
        field_name = text.split("`")[1]
        text = "required field is missing"
    elif field_name == "type" and text.startswith("Invalid value"):
        text = f"unknown event type {text.removeprefix('Invalid value ')}"
    elif text == "Object missing required field `type`":
        field_name, text = "type", "event type is missing"
    event_id = _event_id_of(raw)
    return Rejection(source, position, field_name or None, text, raw_text(raw), event_id)


def _event_id_of(raw: Any) -> str | None:
    """The event id of a rejected event, when one can be read, to help find it again."""
    if isinstance(raw, (bytes, str)):
        try:
            raw = msgspec.json.decode(raw)
        except msgspec.DecodeError:
            return None
    value = raw.get("event_id") if isinstance(raw, dict) else None
    return value if isinstance(value, str) else None


def raw_text(raw: Any) -> str:
    """The raw event as text, for a rejection record (bytes decoded, objects as JSON)."""
    if isinstance(raw, bytes):
        return raw.decode("utf-8", errors="replace")
    if isinstance(raw, str):
        return raw
    try:
        return msgspec.json.encode(raw).decode()
    except (TypeError, msgspec.EncodeError):
        return repr(raw)
