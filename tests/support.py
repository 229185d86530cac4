"""Test helpers: a user whose events pass every check, to be changed one fact at a time."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl

from lendguard.consent.grants import consent_event
from lendguard.events import schema as ev
from lendguard.events.columns import empty_frame, events_to_frames
from lendguard.events.schema import EVENT_TYPES
from lendguard.features.window import AsOf
from lendguard.policy import Policy, load_policy
from lendguard.visibility.service import evaluate_population

AS_OF = dt.datetime(2026, 11, 24, 0, 0, tzinfo=dt.timezone.utc)
ZONE = ZoneInfo("Asia/Shanghai")


def local(days_ago: float, hour: int = 12, minute: int = 0) -> dt.datetime:
    """A time `days_ago` before AS_OF, at a local (Shanghai) hour."""
    day = (AS_OF - dt.timedelta(days=days_ago)).astimezone(ZONE).date()
    return dt.datetime.combine(day, dt.time(hour, minute), ZONE).astimezone(dt.timezone.utc)


@dataclass
class UserBuilder:
    """Builds one user's events; defaults pass every check of the default policy."""

    user_id: str = "u-test"
    policy: Policy = field(default_factory=load_policy)
    payments_per_month: int = 20
    offline_every: int = 2  # every n-th payment is offline (n=2: 50 %)
    offline_count: int | None = None  # exactly this many offline payments (overrides offline_every)
    night_payments: int = 0
    monthly_amounts: tuple[str, str, str] | None = None  # spend per month (most recent first)
    bills: int = 1
    red_in: int = 2
    red_out: int = 2
    debit_banks: int = 3
    face: bool = True
    id_front: bool = True
    id_back: bool = True
    id_expiry: dt.date | None = dt.date(2031, 1, 1)
    card_repayments: int = 1
    wealth: tuple[str, int] | None = ("5000.00", 200)  # balance, days held
    bureau: str = "shared"  # shared | refused | absent
    bureau_queries: int = 3
    history_years: float = 5.0
    extra_categories: tuple[str, ...] = ("bank_card",)
    contacts: int = 10
    risky_contacts: int = 0
    province: str = "Guangdong"
    city: str = "Guangdong-C01"
    phone_province: str | None = None
    ip_province: str | None = None
    version: str = "8.0.45"
    devices: int = 1  # devices rotated over the logins
    logins: int = 3
    security: dict[str, Any] = field(default_factory=dict)
    risky_wifi_reports: int = 0
    clean_reports: int = 1
    customer_group: str | None = None
    real_name_days: int | None = 900  # days since real-name verification
    external_score: int | None = 680  # a Sesame-like score (None: none shared)
    app_opens_per_month: int = 120
    # Scopes granted (each for all of its purposes) before the window; drop one to model a refusal.
    consents: tuple[str, ...] = ("basic_profile", "phone_device", "deep_credit")
    extra: list[ev.Event] = field(default_factory=list)

    def events(self) -> list[ev.Event]:
        u = self.user_id
        out: list[ev.Event] = []
        n = 0

        def eid(kind: str) -> str:
            nonlocal n
            n += 1
            return f"{u}-{kind}-{n}"

        months = self.policy.windows.months
        dpm = self.policy.windows.days_per_month
        index = 0
        for month in range(months):
            count = self.payments_per_month
            amount = Decimal("100.00")
            if self.monthly_amounts is not None:
                amount = (Decimal(self.monthly_amounts[month]) / count).quantize(Decimal("0.01"))
            for k in range(count):
                if self.offline_count is not None:
                    offline = index < self.offline_count
                else:
                    offline = k % self.offline_every == 0 if self.offline_every else False
                index += 1
                out.append(ev.Payment(event_id=eid("pay"), user_id=u, ts=local(month * dpm + 1 + k % (dpm - 2)), amount=amount, channel="offline_qr" if offline else "online", counterparty="shop"))
        for k in range(self.night_payments):
            out.append(ev.Payment(event_id=eid("night"), user_id=u, ts=local(2 + k % 80, hour=1), amount=Decimal("10.00"), channel="online", counterparty="shop"))
        for k in range(self.bills):
            out.append(ev.BillPayment(event_id=eid("bill"), user_id=u, ts=local(10 + k), amount=Decimal("80.00"), biller="electricity"))
        for k in range(self.red_in):
            out.append(ev.Transfer(event_id=eid("rin"), user_id=u, ts=local(3 + k % 80), kind="red_packet", direction="in", amount=Decimal("6.66"), counterparty="friend"))
        for k in range(self.red_out):
            out.append(ev.Transfer(event_id=eid("rout"), user_id=u, ts=local(4 + k % 80), kind="red_packet", direction="out", amount=Decimal("6.66"), counterparty="friend"))
        for k in range(self.debit_banks):
            out.append(ev.BankCard(event_id=eid("card"), user_id=u, ts=local(300 + k), action="bind", card_id=f"card{k}", bank=f"bank{k}", card_type="debit"))
        out.append(ev.Identity(event_id=eid("id"), user_id=u, ts=local(400), face_verified=self.face, id_front=self.id_front, id_back=self.id_back, id_expiry=self.id_expiry))
        for k in range(self.card_repayments):
            out.append(ev.CreditCardRepayment(event_id=eid("ccr"), user_id=u, ts=local(20 + k), amount=Decimal("900.00"), bank="bank0"))
        if self.wealth is not None:
            balance, days = self.wealth
            out.append(ev.WealthHolding(event_id=eid("wealth"), user_id=u, ts=local(1), product="fund", balance=Decimal(balance), since=AS_OF.astimezone(ZONE).date() - dt.timedelta(days=days)))
        if self.bureau == "shared":
            opened = AS_OF.astimezone(ZONE).date() - dt.timedelta(days=round(self.history_years * 365.25))
            out.append(ev.PartnerReport(event_id=eid("bureau"), user_id=u, ts=local(5), institution="bureau", category="bureau", shared=True, credit_accounts=3, queries_12m=self.bureau_queries, oldest_account_opened=opened))
        elif self.bureau == "refused":
            out.append(ev.PartnerReport(event_id=eid("bureau"), user_id=u, ts=local(5), institution="bureau", category="bureau", shared=False))
        for category in self.extra_categories:
            out.append(ev.PartnerReport(event_id=eid("partner"), user_id=u, ts=local(6), institution=f"p-{category}", category=category, shared=True))
        for k in range(self.contacts):
            out.append(ev.SocialContact(event_id=eid("contact"), user_id=u, ts=local(200), contact_id=f"c{k}", high_risk=k < self.risky_contacts))
        for k in range(self.logins):
            device = f"{u}-d{(self.logins - 1 - k) % self.devices}"
            out.append(ev.Login(event_id=eid("login"), user_id=u, ts=local(80 - k * (75 / max(self.logins, 1))), device_id=device, device_model="Phone", os="android", client_version=self.version, ip="10.0.0.1", ip_province=self.ip_province or self.province, lbs_province=self.province, lbs_city=self.city, phone_province=self.phone_province or self.province))
        for k in range(self.clean_reports):
            out.append(ev.DeviceSecurity(event_id=eid("sec"), user_id=u, ts=local(2 + k), device_id=f"{u}-d0", **self.security))
        for k in range(self.risky_wifi_reports):
            out.append(ev.DeviceSecurity(event_id=eid("wifi"), user_id=u, ts=local(30 + k), device_id=f"{u}-d0", risky_wifi=True, **self.security))
        for scope in self.consents:
            out.append(consent_event(u, scope, "grant", None, self.policy, at=local(700), event_id=eid(f"consent-{scope}")))
        if self.customer_group or self.real_name_days is not None:
            real_name = AS_OF.astimezone(ZONE).date() - dt.timedelta(days=self.real_name_days) if self.real_name_days is not None else None
            out.append(ev.Profile(event_id=eid("profile"), user_id=u, ts=local(500), customer_group=self.customer_group, real_name_since=real_name))
        if self.external_score is not None:
            out.append(ev.ExternalScore(event_id=eid("score"), user_id=u, ts=local(7), provider="sesame-like", score=self.external_score))
        for month in range(months):
            out.append(ev.AppOpen(event_id=eid("open"), user_id=u, ts=local(month * dpm + 2), count=self.app_opens_per_month))
        return out + list(self.extra)

    def frames(self) -> dict[str, pl.DataFrame]:
        return frames_of(self.events())


def frames_of(events: list[ev.Event]) -> dict[str, pl.DataFrame]:
    frames = events_to_frames(events)
    return {t: frames.get(t, empty_frame(t)) for t in EVENT_TYPES}


def decide(frames: dict[str, pl.DataFrame], policy: Policy | None = None, at: dt.datetime = AS_OF, risk: pl.DataFrame | None = None) -> dict[str, Any]:
    """The engine's decision row for the single user in `frames`."""
    policy = policy or load_policy()
    result = evaluate_population(frames, policy, AsOf.of(at, policy), risk)
    assert result.decisions.height == 1, result.decisions.height
    return result.decisions.row(0, named=True)


def as_of(policy: Policy | None = None, at: dt.datetime = AS_OF) -> AsOf:
    return AsOf.of(at, policy or load_policy())
