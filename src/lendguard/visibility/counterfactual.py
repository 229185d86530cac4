"""What-if: apply a piece of advice to a user's events, as if the user had followed it.

Each advice kind that a user can act on maps to the events that acting would produce
(payments, a card binding, a new security report...). Re-evaluating the changed
events shows whether the advice flips the check; the tests prove that it does.
Time-based advice ("wait N days") has no event form: `wait_days` says how far to
move the evaluation time instead.
"""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl

from lendguard.events import schema as ev
from lendguard.events.columns import empty_frame, events_to_frames
from lendguard.features.window import AsOf

WAIT_KINDS = {"wait", "wait_dormant", "one_device", "wait_batch", "wait_recovery"}
_counter = itertools.count()


def _id(prefix: str) -> str:
    return f"whatif-{prefix}-{next(_counter)}"


def wait_days(advice: dict[str, Any]) -> int | None:
    """Days to move the evaluation forward for time-based advice (None for event advice)."""
    return int(advice["params"]["days"]) if advice["kind"] in WAIT_KINDS else None


def _local_noon(as_of: AsOf, days_ago: float) -> dt.datetime:
    zone = ZoneInfo(as_of.timezone)
    day = (as_of.at - dt.timedelta(days=days_ago)).astimezone(zone).date()
    moment = dt.datetime.combine(day, dt.time(12, 0), zone).astimezone(dt.timezone.utc)
    return moment if moment <= as_of.at else moment - dt.timedelta(days=1)


def _latest(frames: dict[str, pl.DataFrame], event_type: str) -> dict[str, Any] | None:
    frame = frames.get(event_type)
    if frame is None or frame.height == 0:
        return None
    return frame.sort("ts").row(-1, named=True)


def _payments(user: str, as_of: AsOf, count_per_month: int, channel: str = "offline_qr", amount: Decimal = Decimal("20.00")) -> list[ev.Event]:
    events = []
    for month in range(as_of.months):
        for k in range(count_per_month):
            days_ago = month * as_of.days_per_month + 2 + (k % (as_of.days_per_month - 4))
            events.append(ev.Payment(event_id=_id("pay"), user_id=user, ts=_local_noon(as_of, days_ago), amount=amount, channel=channel, counterparty="whatif-shop"))
    return events


def _spread_payments(user: str, as_of: AsOf, count: int, channel: str) -> list[ev.Event]:
    """`count` payments spread evenly over the months of the window."""
    events = []
    for k in range(count):
        month = k % as_of.months
        days_ago = month * as_of.days_per_month + 2 + (k // as_of.months) % (as_of.days_per_month - 4)
        events.append(ev.Payment(event_id=_id("pay"), user_id=user, ts=_local_noon(as_of, days_ago), amount=Decimal("20.00"), channel=channel, counterparty="whatif-shop"))
    return events


def advice_events(
    advice: dict[str, Any], frames: dict[str, pl.DataFrame], row: dict[str, Any], as_of: AsOf
) -> list[ev.Event]:
    """The events a user following `advice` would generate (empty for time-based advice)."""
    kind, params, user = advice["kind"], advice["params"], row["user_id"]
    # Just before the as-of time, later than any earlier what-if event (so "latest" is well defined).
    now = as_of.at - dt.timedelta(minutes=5) + dt.timedelta(microseconds=next(_counter))
    login = _latest(frames, "login")
    report = _latest(frames, "device_security")
    device = row.get("primary_device") or (login or {}).get("device_id") or f"{user}-whatif-device"

    def security_report(**changes: Any) -> ev.DeviceSecurity:
        base = {k: report[k] for k in ("rooted", "modified_client", "unknown_sources", "malware", "failed_minor_checks")} if report else {}
        base.update(changes)
        return ev.DeviceSecurity(event_id=_id("sec"), user_id=user, ts=now, device_id=device, **base)

    if kind == "add_payments":
        return _payments(user, as_of, int(params["per_month"]))
    if kind == "add_offline_payments":
        return _spread_payments(user, as_of, int(params["count"]), "offline_qr")
    if kind == "daytime_payments":
        return _spread_payments(user, as_of, int(params["count"]), "online")
    if kind == "steady_spending":
        level = Decimal(str(params["level"]))
        events = []
        for month in range(as_of.months):
            spent = Decimal(str(row[f"spend_month_{month}"]))
            if spent < level:
                events.append(ev.Payment(event_id=_id("pay"), user_id=user, ts=_local_noon(as_of, month * as_of.days_per_month + as_of.days_per_month / 2), amount=(level - spent).quantize(Decimal("0.01")), channel="online", counterparty="whatif-shop"))
        return events
    if kind == "pay_bill":
        return [ev.BillPayment(event_id=_id("bill"), user_id=user, ts=now, amount=Decimal("50.00"), biller="electricity") for _ in range(int(params["count"]))]
    if kind == "balance_red_packets":
        direction = "out" if params["direction"] == "send" else "in"
        return [ev.Transfer(event_id=_id("red"), user_id=user, ts=_local_noon(as_of, 1 + k % 20), kind="red_packet", direction=direction, amount=Decimal("8.88"), counterparty="whatif-friend") for k in range(int(params["count"]))]
    if kind in ("deposit_and_hold", "hold_longer"):
        hold_days = int(params["hold_days"])
        holdings = frames.get("wealth_holding")
        if kind == "hold_longer":
            # The qualifying holding, as if it had been held `hold_days` longer.
            best = holdings.sort("ts").group_by("product").last().sort("since").row(0, named=True)
            since, balance, product = best["since"] - dt.timedelta(days=hold_days), best["balance"], best["product"]
        else:
            largest = None if holdings is None or holdings.height == 0 else holdings.sort("ts").group_by("product").last().sort("balance").row(-1, named=True)
            product = largest["product"] if largest else "whatif-fund"
            balance = (largest["balance"] if largest else Decimal("0")) + Decimal(str(params["deposit"]))
            since = as_of.local_date - dt.timedelta(days=hold_days)
        return [ev.WealthHolding(event_id=_id("wealth"), user_id=user, ts=now, product=product, balance=balance, since=since)]
    if kind == "remove_contacts":
        contacts = frames["social_contact"].sort("ts").group_by("contact_id").last()
        risky = contacts.filter((pl.col("action") == "add") & pl.col("high_risk"))["contact_id"].to_list()[: int(params["count"])]
        return [ev.SocialContact(event_id=_id("contact"), user_id=user, ts=now, contact_id=c, action="remove", high_risk=True) for c in risky]
    if kind in ("login_from_home", "enable_location", "update_client", "open_app"):
        base = login or {"device_model": "whatif", "os": "android", "client_version": "8.0.45", "ip": "10.0.0.1"}
        province = params.get("province") or row.get("province") or "Guangdong"
        count = int(params.get("logins", 1))
        version = params.get("version") or base["client_version"]
        located = kind in ("login_from_home", "enable_location")
        return [
            ev.Login(
                event_id=_id("login"), user_id=user, ts=now - dt.timedelta(minutes=count - k), device_id=device,
                device_model=base["device_model"], os=base["os"], client_version=version, ip=base["ip"],
                ip_province=province if located else (login or {}).get("ip_province"),
                lbs_province=province if located else (login or {}).get("lbs_province"),
                lbs_city=(login or {}).get("lbs_city") if not located else row.get("city"),
                phone_province=(login or {}).get("phone_province"),
            )
            for k in range(count)
        ]
    if kind == "bind_cards":
        return [ev.BankCard(event_id=_id("card"), user_id=user, ts=now, action="bind", card_id=f"whatif-card-{k}", bank=f"whatif-bank-{k}", card_type="debit") for k in range(int(params["count"]))]
    if kind == "verify_face":
        return [ev.Identity(event_id=_id("id"), user_id=user, ts=now, face_verified=True)]
    if kind == "upload_id":
        return [ev.Identity(event_id=_id("id"), user_id=user, ts=now, id_front=True, id_back=True)]
    if kind in ("renew_id", "add_id_expiry"):
        return [ev.Identity(event_id=_id("id"), user_id=user, ts=now, id_expiry=as_of.local_date + dt.timedelta(days=3650))]
    if kind == "repay_credit_card":
        return [ev.CreditCardRepayment(event_id=_id("ccr"), user_id=user, ts=now, amount=Decimal("500.00"), bank="whatif-bank") for _ in range(int(params["count"]))]
    if kind == "share_bureau":
        return [ev.PartnerReport(event_id=_id("bureau"), user_id=user, ts=now, institution="whatif-bureau", category="bureau", shared=True, credit_accounts=1, queries_12m=0, oldest_account_opened=as_of.local_date - dt.timedelta(days=3650))]
    if kind == "share_categories":
        missing = [c for c in ("bank_card", "insurance", "securities", "bureau") if c not in (row.get("shared_categories") or [])]
        return [ev.PartnerReport(event_id=_id("partner"), user_id=user, ts=now, institution=f"whatif-{c}", category=c, shared=True) for c in missing[: int(params["count"])]]
    if kind == "fewer_applications":
        latest = frames["partner_report"].filter(pl.col("category") == "bureau").sort("ts").row(-1, named=True)
        return [ev.PartnerReport(event_id=_id("bureau"), user_id=user, ts=now, institution=latest["institution"], category="bureau", shared=True, credit_accounts=latest["credit_accounts"], queries_12m=latest["queries_12m"] - int(params["excess"]), oldest_account_opened=latest["oldest_account_opened"])]
    if kind in ("fix_rooted", "fix_modified_client", "fix_malware"):
        return [security_report(**{kind.removeprefix("fix_"): False})]
    if kind == "raise_score":
        changes: dict[str, Any] = {finding: False for finding in params.get("fix_findings", [])}
        if params.get("disable_unknown_sources"):
            changes["unknown_sources"] = False
        if params.get("minor_checks"):
            changes["failed_minor_checks"] = max(0, (report or {}).get("failed_minor_checks", 0) - int(params["minor_checks"]))
        trusted = [security_report(**changes, risky_wifi=False) for _ in range(int(params.get("trusted_sessions", 0)))]
        return [security_report(**changes), *trusted]
    if kind == "run_device_check":
        return [security_report()]
    if kind == "trusted_network":
        return [security_report(risky_wifi=False) for _ in range(int(params["sessions"]))]
    return []


def apply_advice(
    frames: dict[str, pl.DataFrame], advice: dict[str, Any], row: dict[str, Any], as_of: AsOf
) -> dict[str, pl.DataFrame]:
    """The user's events with the advice's events added."""
    added = events_to_frames(advice_events(advice, frames, row, as_of))
    merged = dict(frames)
    for event_type, frame in added.items():
        base = merged.get(event_type, empty_frame(event_type))
        merged[event_type] = pl.concat([base, frame])
    return merged
