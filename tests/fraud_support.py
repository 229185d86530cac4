"""Test helpers for the fraud engine: consented users and events as raw JSON lines."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import msgspec

from lendguard.consent.grants import consent_event
from lendguard.events import schema as ev
from lendguard.policy import Policy

T0 = dt.datetime(2026, 10, 1, tzinfo=dt.timezone.utc)
_ids = itertools.count()
_encoder = msgspec.json.Encoder()


def at(minutes: float = 0, days: float = 0) -> dt.datetime:
    return T0 + dt.timedelta(days=days, minutes=minutes)


def next_id(prefix: str) -> str:
    return f"{prefix}-{next(_ids)}"


def consents(user_id: str, policy: Policy, scopes=("basic_profile", "phone_device", "deep_credit"), when: dt.datetime | None = None) -> list[ev.Event]:
    moment = when or T0 - dt.timedelta(days=60)
    return [consent_event(user_id, s, "grant", None, policy, at=moment, event_id=next_id("c")) for s in scopes]


def login(user: str, when: dt.datetime, device: str = "dev-1", ip: str = "10.0.0.1", province: str | None = "Guangdong") -> ev.Login:
    return ev.Login(
        event_id=next_id("l"), user_id=user, ts=when, device_id=device, device_model="Phone X", os="android",
        client_version="8.0.50", ip=ip, ip_province=province, lbs_province=province, lbs_city=None, phone_province=province,
    )


def transfer_in(user: str, when: dt.datetime, counterparty: str, amount: str = "100.00", kind: str = "transfer") -> ev.Transfer:
    return ev.Transfer(event_id=next_id("t"), user_id=user, ts=when, kind=kind, direction="in", amount=Decimal(amount), counterparty=counterparty)


def transfer_out(user: str, when: dt.datetime, counterparty: str, amount: str = "100.00") -> ev.Transfer:
    return ev.Transfer(event_id=next_id("t"), user_id=user, ts=when, kind="transfer", direction="out", amount=Decimal(amount), counterparty=counterparty)


def payment(user: str, when: dt.datetime, category: str = "food", amount: str = "20.00") -> ev.Payment:
    return ev.Payment(event_id=next_id("p"), user_id=user, ts=when, amount=Decimal(amount), channel="online", counterparty="m-1", merchant_category=category)


def numbered(events: list[ev.Event], start: int = 1) -> list[tuple[int, bytes]]:
    """(offset, raw JSON) as a file or a stream would deliver them."""
    return [(start + i, _encoder.encode(e)) for i, e in enumerate(events)]
