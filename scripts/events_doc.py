"""Generate docs/events.md from the event schema classes (lendguard.events.schema).

    python scripts/events_doc.py           # write docs/events.md
    python scripts/events_doc.py --check   # exit 1 if docs/events.md is out of date

Field names, types, defaults and constraints come from the msgspec Structs
(msgspec.inspect.type_info); purposes from each class's docstring; the money and
time rules are probed from lendguard.events.validation.EventValidator under the
default policy. Every example line is validated with a fixed `now`, and generation
fails loudly if one is rejected. Which features and checks read each type is written
here by hand (from src/lendguard/features/*.py) and checked against the check catalogue.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import msgspec.inspect as mi

import polars as pl

from lendguard.events.columns import COMMON_COLUMNS, frame_schema
from lendguard.events.schema import EVENT_CLASSES, EVENT_TYPES, SCHEMA_VERSION, Event
from lendguard.events.validation import EventValidator, Rejection
from lendguard.policy import load_policy
from lendguard.visibility.dimensions import CHECKS_BY_CODE

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "docs" / "events.md"
# The fixed "now" every example is validated against (examples must lie before it).
EXAMPLE_NOW = dt.datetime(2026, 11, 24, 0, 0, tzinfo=dt.timezone.utc)
SOURCE = "docs/events.md"

# ---- hand-written parts: field notes, examples, readers ---------------------------------------

COMMON_NOTES = {
    "type": "The event type (the tag that selects the table below).",
    "event_id": "Unique id chosen by the sender. The idempotency key: an id already stored is not stored again.",
    "user_id": "The user the event is about.",
    "ts": "When the event happened. Windows (`windows.lookback_days`, `windows.quarter_days`, `kyc.credit_card_repayment_lookback_days`) are measured back from the evaluation time; events after it are ignored.",
    "schema_version": f"Version of this schema; only {SCHEMA_VERSION} exists.",
}

FIELD_NOTES: dict[str, dict[str, str]] = {
    "payment": {
        "amount": "Amount paid. Summed per 30-day month for the volatility check (PB02); a candidate 'large' movement for PB06.",
        "channel": "`offline_qr`: a merchant QR scan in a shop (counts towards the offline share, PB01); `online`: anything else.",
        "counterparty": "Merchant or payee id. Not read by the visibility checks.",
        "merchant_category": "Spending scene. Not read by the visibility checks.",
    },
    "transfer": {
        "kind": "`red_packet` events feed the red-packet direction check (PB04); both kinds are money movements for PB06.",
        "direction": "`in`: received by the user; `out`: sent by the user.",
        "amount": "Amount moved. A candidate 'large' movement for PB06.",
        "counterparty": "The other account. Not read by the visibility checks.",
    },
    "login": {
        "device_id": "Device of this login. The last login's device is the user's current device; a change of device between consecutive logins is a device switch (DS04).",
        "device_model": "Handset model; kept as a feature of the current device, not read by any check.",
        "os": "Operating system of the device.",
        "client_version": "App version `major.minor.patch`; the last login's version places the user in a gray-release band (GR01, GR02).",
        "ip": "Login IP address, as text.",
        "ip_province": "Province of the login IP; the most frequent one in the window is the 'usual login IP' signal of RG01.",
        "lbs_province": "Province from location services (LBS); the most frequent one in the window is the LBS signal of RG01.",
        "lbs_city": "City from location services, as named in `policy/geography.csv` (e.g. `Guangdong-C01`). The most frequent one gives the city, its tier (line factor), RG03 and RG04; a city not in the table counts as tier `other`.",
        "phone_province": "Home region of the phone number (latest non-null value); the third signal of RG01.",
    },
    "device_security": {
        "device_id": "Device the report is about. Only the latest report of the current device (last login) sets the flags and the score.",
        "rooted": "Root / jailbreak found. Closes the entry (DS01) and costs `deductions.rooted` points.",
        "modified_client": "Unofficial, modified client. Closes the entry (DS02) and costs `deductions.modified_client` points.",
        "unknown_sources": "Android 'install from unknown sources' allowed. Costs `deductions.unknown_sources` points (DS06).",
        "malware": "Known malware found. Closes the entry (DS03) and costs `deductions.malware` points.",
        "risky_wifi": "The session used a risky public Wi-Fi. Share of reports in the window: DS05, and a score deduction above half the limit.",
        "checks_run": "How many checks the client ran. Not read by the visibility checks.",
        "failed_minor_checks": "Other checks that failed; each costs `deductions.failed_minor_check` points (DS06).",
    },
    "bank_card": {
        "action": "`bind` or `unbind`; the latest action per `card_id` decides whether the card is bound.",
        "card_id": "A stable token for the card (never the card number).",
        "bank": "Issuing bank. KY01 counts the distinct banks of bound debit cards.",
        "card_type": "Only `debit` cards count for KY01.",
    },
    "identity": {
        "face_verified": "Face verification passed. Once true in any event up to the evaluation time it stays true (KY02).",
        "id_front": "Front side of the ID card verified (same once-true rule). KY03 needs both sides.",
        "id_back": "Back side of the ID card verified (same once-true rule).",
        "id_expiry": "Expiry date of the ID document; the latest non-null value counts (KY05).",
    },
    "credit_card_repayment": {
        "amount": "Amount repaid.",
        "bank": "Card issuer. Not read by the visibility checks; KY04 counts repayments within `kyc.credit_card_repayment_lookback_days`.",
    },
    "wealth_holding": {
        "product": "Wealth product id; the latest snapshot per product counts.",
        "balance": "Current balance (0 means the product was emptied). Balances are summed for the measured wealth balance.",
        "since": "Date since which the product has been held at no less than `balance`. Holding days = evaluation date - `since`, taken over products with balance >= `credit.min_wealth_balance` (CR02).",
    },
    "bill_payment": {
        "amount": "Amount paid.",
        "biller": "Kind of bill. PB03 counts bill payments of any kind within `windows.quarter_days`.",
    },
    "partner_report": {
        "institution": "Partner institution id; the latest report per (institution, category) counts.",
        "category": "Data category; only categories listed in `partner_data.categories` count.",
        "shared": "`false` records the user's refusal. A bureau refusal with no shared bureau report makes PD01 (and CR03) not assessable.",
        "credit_accounts": "Bureau reports: number of credit accounts (shown by PD03, not thresholded).",
        "queries_12m": "Bureau reports: credit queries in the last 12 months (PD03).",
        "oldest_account_opened": "Bureau reports: opening date of the oldest credit account; gives the credit history length (CR03).",
        "policies": "Insurance reports: policies held. Not read by the visibility checks.",
        "assets": "Securities reports: assets held. Not read by the visibility checks.",
    },
    "app_open": {
        "count": "Opens since the previous `app_open` event (a daily or monthly total is typical).",
    },
    "external_score": {
        "provider": "Who computed the score (a Sesame-like credit score provider).",
        "score": "The score, 0-1000 (Sesame-like scores run 350-950); the latest counts.",
    },
    "social_contact": {
        "contact_id": "The contact; the latest action per contact decides whether it is current.",
        "action": "`add` or `remove`.",
        "relation": "Kind of relation. Not read by the visibility checks.",
        "high_risk": "The contact carries a risk flag; CR04 reads the share of flagged current contacts.",
    },
    "consent": {
        "scope": "Authorization layer (SPEC §4): `basic_profile` (on follow), `phone_device` (first mini-program use), `deep_credit` (credit query).",
        "action": "`grant` or `withdraw`.",
        "purposes": "Purposes the data may be used for (at least one).",
        "text_version": "Version of the consent text shown to the user.",
        "text_hash": "SHA-256 (lower-case hex) of the consent text shown.",
    },
    "profile": {
        "customer_group": "Special customer group (e.g. `student`); the latest non-null value is matched against `region.restricted_groups` (RG04).",
        "real_name_since": "Date of real-name verification. Not read by the visibility checks.",
        "birth_year": "Year of birth. Not read by the visibility checks.",
    },
}

# One or more example events per type; each must validate against EXAMPLE_NOW.
EXAMPLES: dict[str, list[dict[str, Any]]] = {
    "payment": [
        {"type": "payment", "event_id": "pay-20261123-0001", "user_id": "u00000042", "ts": "2026-11-23T12:31:05+08:00", "amount": "36.50", "channel": "offline_qr", "counterparty": "m18842", "merchant_category": "food"},
    ],
    "transfer": [
        {"type": "transfer", "event_id": "trf-20261122-0007", "user_id": "u00000042", "ts": "2026-11-22T20:15:00+08:00", "kind": "red_packet", "direction": "out", "amount": "8.88", "counterparty": "a551920"},
    ],
    "login": [
        {"type": "login", "event_id": "lgn-20261123-0003", "user_id": "u00000042", "ts": "2026-11-23T08:02:11+08:00", "device_id": "dev-7f3a", "device_model": "Xiaomi 14", "os": "android", "client_version": "8.0.42", "ip": "10.12.7.1", "ip_province": "Guangdong", "lbs_province": "Guangdong", "lbs_city": "Guangdong-C01", "phone_province": "Guangdong"},
    ],
    "device_security": [
        {"type": "device_security", "event_id": "sec-20261123-0001", "user_id": "u00000042", "ts": "2026-11-23T08:02:30+08:00", "device_id": "dev-7f3a", "rooted": False, "modified_client": False, "unknown_sources": True, "malware": False, "risky_wifi": False, "checks_run": 124, "failed_minor_checks": 2},
    ],
    "bank_card": [
        {"type": "bank_card", "event_id": "card-20250301-0002", "user_id": "u00000042", "ts": "2025-03-01T10:00:00+08:00", "action": "bind", "card_id": "tok-9d1e22", "bank": "bank-07", "card_type": "debit"},
    ],
    "identity": [
        {"type": "identity", "event_id": "idv-20240512-0001", "user_id": "u00000042", "ts": "2024-05-12T09:30:00+08:00", "face_verified": True, "id_front": True, "id_back": True, "id_expiry": "2034-05-11"},
    ],
    "credit_card_repayment": [
        {"type": "credit_card_repayment", "event_id": "ccr-20261105-0001", "user_id": "u00000042", "ts": "2026-11-05T19:40:00+08:00", "amount": "1250.00", "bank": "bank-03"},
    ],
    "wealth_holding": [
        {"type": "wealth_holding", "event_id": "wlt-20261120-0001", "user_id": "u00000042", "ts": "2026-11-20T00:05:00+08:00", "product": "money-fund-a", "balance": "12000.00", "since": "2026-06-01"},
    ],
    "bill_payment": [
        {"type": "bill_payment", "event_id": "bill-20261018-0001", "user_id": "u00000042", "ts": "2026-10-18T21:00:00+08:00", "amount": "128.40", "biller": "electricity"},
    ],
    "partner_report": [
        {"type": "partner_report", "event_id": "ptn-20261101-0001", "user_id": "u00000042", "ts": "2026-11-01T03:00:00+08:00", "institution": "pboc-credit-center", "category": "bureau", "shared": True, "credit_accounts": 4, "queries_12m": 3, "oldest_account_opened": "2019-08-15"},
        {"type": "partner_report", "event_id": "ptn-20261101-0002", "user_id": "u00000042", "ts": "2026-11-01T03:00:00+08:00", "institution": "partner-12", "category": "securities", "assets": "58000.00"},
        {"type": "partner_report", "event_id": "ptn-20261101-0003", "user_id": "u00000077", "ts": "2026-11-01T03:00:00+08:00", "institution": "pboc-credit-center", "category": "bureau", "shared": False},
    ],
    "app_open": [
        {"type": "app_open", "event_id": "open-20261123-u42", "user_id": "u00000042", "ts": "2026-11-23T23:59:00+08:00", "count": 7},
    ],
    "external_score": [
        {"type": "external_score", "event_id": "score-20261101-u42", "user_id": "u00000042", "ts": "2026-11-01T09:00:00+08:00", "provider": "sesame-like", "score": 682},
    ],
    "social_contact": [
        {"type": "social_contact", "event_id": "soc-20260210-0031", "user_id": "u00000042", "ts": "2026-02-10T14:00:00+08:00", "contact_id": "c8812031", "action": "add", "relation": "colleague", "high_risk": False},
    ],
    "consent": [
        {"type": "consent", "event_id": "cst-20260301-0003", "user_id": "u00000042", "ts": "2026-03-01T10:00:00+08:00", "scope": "deep_credit", "action": "grant", "purposes": ["credit_scoring", "anti_fraud"], "text_version": "2026-01", "text_hash": "3f5a0c9e1b7d24f6a8c0e2b4d6f8a0c1e3b5d7f9a1c3e5b7d9f1a3c5e7b9d1f3"},
    ],
    "profile": [
        {"type": "profile", "event_id": "prf-20230115-0001", "user_id": "u00000042", "ts": "2023-01-15T10:00:00+08:00", "customer_group": "student", "real_name_since": "2021-09-01", "birth_year": 2004},
    ],
}

# Which feature code reads each type, and the checks its values feed (derived by hand from
# src/lendguard/features/*.py and visibility/dimensions/*.py).
READERS: dict[str, tuple[str, list[str]]] = {
    "payment": (
        "`features/payments.py` counts payments in the look-back window (`windows.lookback_days`), offline ones, night ones "
        "(local hour in [`night_start_hour`, 24) or [0, `night_end_hour`) in the policy time zone) and the amount spent in each "
        "30-day month, giving `payments_per_month`, `offline_share`, `night_share` and `monthly_volatility` "
        "((max - min) / mean of the monthly amounts). `features/dormancy.py` looks for a large recent movement after a long silence.",
        ["CR01", "PB01", "PB02", "PB05", "PB06"],
    ),
    "transfer": (
        "`features/transfers.py` counts red packets received and sent in the window (`red_packet_imbalance` = |in - out| / (in + out)). "
        "`features/dormancy.py` treats every transfer, like every payment, as a money movement.",
        ["PB04", "PB06"],
    ),
    "login": (
        "`features/logins.py` takes, over the window, the number of device switches, the current device, model, OS and client version "
        "(last login), the most frequent LBS province, IP province and LBS city, and the latest phone province. "
        "`features/region.py` counts how many of the three province signals agree and picks the agreed province; "
        "the city's tier comes from `policy/geography.csv`. The current device selects the `device_security` report that counts.",
        ["RG01", "RG02", "RG03", "RG04", "DS04", "GR01", "GR02"],
    ),
    "device_security": (
        "`features/device.py` keeps the latest report per device up to the evaluation time and joins the one of the current device "
        "(from logins); it counts reports and risky-Wi-Fi reports in the window, and computes the 0-100 score "
        "(100 minus `device_security.deductions`) and the A/B/C grade.",
        ["DS01", "DS02", "DS03", "DS05", "DS06"],
    ),
    "bank_card": (
        "`features/kyc.py` keeps the latest action per card and counts bound debit cards and their distinct banks; "
        "the account class (I-III) is derived from cards, identity and card repayments.",
        ["KY01"],
    ),
    "identity": (
        "`features/kyc.py`: face and ID sides are true if any event up to the evaluation time says so; "
        "`id_expired_days` = evaluation date - latest `id_expiry`.",
        ["KY02", "KY03", "KY05"],
    ),
    "credit_card_repayment": (
        "`features/kyc.py` counts repayments within `kyc.credit_card_repayment_lookback_days`.",
        ["KY04"],
    ),
    "wealth_holding": (
        "`features/wealth.py` keeps the latest snapshot per product: total balance, largest holding, and the longest holding "
        "days among products at or above `credit.min_wealth_balance`.",
        ["CR02"],
    ),
    "bill_payment": (
        "`features/bills.py` counts bill payments within `windows.quarter_days`.",
        ["PB03"],
    ),
    "partner_report": (
        "`features/partner.py` keeps the latest report per (institution, category): the categories shared, whether the bureau "
        "report is shared or refused, its query count and credit accounts, and the oldest account's opening date, from which "
        "`credit_history_years` and the sharing level (`full`: every category, `partial`: at least one, `none`) are derived.",
        ["CR03", "PD01", "PD02", "PD03"],
    ),
    "app_open": (
        "`features/activity.py` sums the counts over the look-back window into `app_opens_per_day`, which product "
        "admission reads (`loans.products.*.admission.app_opens_per_day_min`, reason LN03). No visibility check reads it.",
        [],
    ),
    "external_score": (
        "`features/activity.py` keeps the latest score as `external_score`, which product admission reads "
        "(`loans.products.*.admission.external_score_min`, reason LN01). No visibility check reads it.",
        [],
    ),
    "social_contact": (
        "`features/social.py` keeps the latest action per contact and computes the share of current contacts flagged high-risk.",
        ["CR04"],
    ),
    "consent": (
        "Not read by any feature yet: the consent gate of SPEC §4 is not built, so consents are stored but do not yet "
        "filter other events.",
        [],
    ),
    "profile": (
        "`features/profile.py` keeps the latest non-null `customer_group` and `real_name_since` (whose age in months, `real_name_months`, product admission reads: reason LN02).",
        ["RG04"],
    ),
}

# Events that break one rule each, to show what the validator says (generated below).
_BASE = EXAMPLES["payment"][0]
BAD_EXAMPLES: list[tuple[str, Any]] = [
    ("unknown field", {**_BASE, "colour": "red"}),
    ("unknown type", {**_BASE, "type": "teleport"}),
    ("missing required field", {k: v for k, v in _BASE.items() if k != "counterparty"}),
    ("value not in the enum", {**_BASE, "channel": "atm"}),
    ("id with a space", {**_BASE, "event_id": "pay 1"}),
    ("time without a zone", {**_BASE, "ts": "2026-11-23T12:31:05"}),
    ("time in the future", {**_BASE, "ts": "2026-11-24T08:10:00+08:00"}),
    ("zero amount", {**_BASE, "amount": "0"}),
    ("too many decimals", {**_BASE, "amount": "36.505"}),
    ("amount above the maximum", {**_BASE, "amount": "10000000.01"}),
    ("negative balance", {**EXAMPLES["wealth_holding"][0], "balance": "-1.00"}),
    ("holding date in the future", {**EXAMPLES["wealth_holding"][0], "since": "2026-12-01"}),
    ("not JSON", "{'type': 'payment'"),
]


# ---- helpers -------------------------------------------------------------------------------------

def _validator() -> EventValidator:
    return EventValidator(load_policy().events, now=EXAMPLE_NOW)


def example_line(example: dict[str, Any]) -> str:
    return json.dumps(example, ensure_ascii=False)


def check_examples(validator: EventValidator | None = None) -> None:
    """Raise if an example does not validate or does not match its section's type."""
    validator = validator or _validator()
    missing = set(EVENT_TYPES) - set(EXAMPLES)
    if missing:
        raise SystemExit(f"events_doc: no example for event type(s) {sorted(missing)}")
    for event_type, examples in EXAMPLES.items():
        for number, example in enumerate(examples, start=1):
            outcome = validator.validate_one(example_line(example).encode(), SOURCE, number)
            if isinstance(outcome, Rejection):
                raise SystemExit(f"events_doc: the {event_type} example #{number} does not validate: {outcome.describe()}")
            if type(outcome).__struct_config__.tag != event_type:
                raise SystemExit(f"events_doc: the {event_type} example #{number} decodes as another type")


def _check_hand_written() -> None:
    for event_type, notes in FIELD_NOTES.items():
        if event_type not in EVENT_CLASSES:
            raise SystemExit(f"events_doc: FIELD_NOTES names unknown event type {event_type!r}")
        stale = set(notes) - set(EVENT_CLASSES[event_type].__struct_fields__)
        if stale:
            raise SystemExit(f"events_doc: FIELD_NOTES[{event_type!r}] names unknown field(s) {sorted(stale)}")
    for event_type, (_, codes) in READERS.items():
        unknown = [c for c in codes if c not in CHECKS_BY_CODE]
        if unknown:
            raise SystemExit(f"events_doc: READERS[{event_type!r}] names unknown check(s) {unknown}")
    missing = set(EVENT_TYPES) - set(READERS)
    if missing:
        raise SystemExit(f"events_doc: READERS has no entry for {sorted(missing)}")


def _probe(validator: EventValidator, event_type: str, field: str, value: Any) -> Rejection | None:
    """Validate the type's first example with one field changed; the rejection, if any."""
    raw = {**EXAMPLES[event_type][0], field: value}
    outcome = validator.validate_one(example_line(raw).encode(), "probe", 1)
    return outcome if isinstance(outcome, Rejection) else None


def _code(value: Any) -> str:
    return f"`{value}`"


def _json_value(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _number(value: int) -> str:
    return f"{value:,}" if abs(value) >= 10_000 else str(value)


def _describe(info: mi.Type) -> tuple[str, list[str], bool]:
    """(type text, constraints, nullable) of one field type."""
    nullable = False
    if isinstance(info, mi.UnionType):
        inner = [t for t in info.types if not isinstance(t, mi.NoneType)]
        nullable = len(inner) < len(info.types)
        if len(inner) != 1:
            raise SystemExit(f"events_doc: cannot describe union {info!r}")
        info = inner[0]
    if isinstance(info, mi.StrType):
        constraints = []
        if info.min_length is not None or info.max_length is not None:
            low = info.min_length or 0
            constraints.append(f"length {low}-{info.max_length}" if info.max_length is not None else f"length >= {low}")
        if info.pattern:
            constraints.append(f"pattern `{info.pattern}`")
        return "string", constraints, nullable
    if isinstance(info, mi.LiteralType):
        values = ", ".join(_code(v) for v in info.values)
        kind = "integer" if isinstance(info.values[0], int) else "string"
        return kind, [f"one of {values}"], nullable
    if isinstance(info, mi.BoolType):
        return "boolean", [], nullable
    if isinstance(info, mi.IntType):
        constraints = []
        if info.ge is not None and info.le is not None:
            constraints.append(f"{_number(info.ge)} <= value <= {_number(info.le)}")
        elif info.ge is not None:
            constraints.append(f"value >= {_number(info.ge)}")
        elif info.le is not None:
            constraints.append(f"value <= {_number(info.le)}")
        return "integer", constraints, nullable
    if isinstance(info, mi.DecimalType):
        return "decimal (money)", [], nullable
    if isinstance(info, mi.DateTimeType):
        return "datetime", (["must carry a time zone"] if info.tz else []), nullable
    if isinstance(info, mi.DateType):
        return "date", [], nullable
    if isinstance(info, mi.ListType):
        item, item_constraints, _ = _describe(info.item_type)
        constraints = []
        if info.min_length:
            constraints.append(f"at least {info.min_length} item(s)")
        if info.max_length is not None:
            constraints.append(f"at most {info.max_length} item(s)")
        constraints += [f"each item: {c}" for c in item_constraints]
        return f"list of {item}", constraints, nullable
    raise SystemExit(f"events_doc: no description for type {info!r}")


def _money_rule(validator: EventValidator, event_type: str, field: str) -> str:
    rules = validator.rules
    zero = _probe(validator, event_type, field, "0")
    sign = "> 0" if zero is not None else ">= 0"
    return f"{sign}; at most {rules.amount_decimals} decimals; at most {rules.max_amount}"


def _date_rule(validator: EventValidator, event_type: str, field: str) -> str | None:
    future = (EXAMPLE_NOW + dt.timedelta(days=30)).date().isoformat()
    return "not in the future" if _probe(validator, event_type, field, future) is not None else None


def _requirement(field: mi.Field) -> str:
    if field.required:
        return "required"
    return f"optional, default `{_json_value(field.default)}`"


def _field_rows(validator: EventValidator, event_type: str, fields: list[mi.Field], notes: dict[str, str]) -> list[str]:
    rows = []
    for field in fields:
        type_text, constraints, nullable = _describe(field.type)
        kinds = field.type.types if isinstance(field.type, mi.UnionType) else (field.type,)
        if any(isinstance(t, mi.DecimalType) for t in kinds):
            constraints.append(_money_rule(validator, event_type, field.name))
        if any(isinstance(t, mi.DateType) for t in kinds):
            rule = _date_rule(validator, event_type, field.name)
            if rule:
                constraints.append(rule)
        if nullable:
            type_text += " or null"
        rows.append(
            f"| `{field.name}` | {type_text} | {_requirement(field)} | {'; '.join(constraints) or '-'} | {notes.get(field.name, '-')} |"
        )
    return rows


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().splitlines()[0].strip() if doc else ""


# ---- sections ------------------------------------------------------------------------------------

def _intro(policy_version: str) -> list[str]:
    types = ", ".join(f"[`{t}`](#{t})" for t in EVENT_TYPES)
    return [
        "# Events",
        "",
        "<!-- Generated by scripts/events_doc.py from lendguard.events.schema. Do not edit by hand: run `python scripts/events_doc.py`. -->",
        "",
        f"Every fact the engines read arrives as an event: one JSON object with a `type` field that names one of "
        f"{len(EVENT_TYPES)} event types. This page is generated from the schema classes in `src/lendguard/events/schema.py` "
        f"(schema version {SCHEMA_VERSION}) and the rules in `src/lendguard/events/validation.py`, with the limits of the "
        f"default policy (version {policy_version}). `lendguard schema` prints the same schema as JSON Schema, and "
        f"`GET /v1/schema/events` serves it.",
        "",
        f"Event types: {types}.",
        "",
    ]


def _formats() -> list[str]:
    return [
        "## How values are written",
        "",
        "| schema type | in JSON | example |",
        "|---|---|---|",
        "| string | JSON string | `\"u00000042\"` |",
        "| decimal (money) | a JSON string (recommended) or a JSON number; read exactly as a decimal, never as a float | `\"36.50\"` |",
        "| datetime | RFC 3339 text with a time zone (`Z` or an offset such as `+08:00`) | `\"2026-11-23T12:31:05+08:00\"` |",
        "| date | `YYYY-MM-DD` | `\"2034-05-11\"` |",
        "| boolean | `true` / `false` | `true` |",
        "| integer | JSON integer | `7` |",
        "| list of string | JSON array | `[\"credit_scoring\"]` |",
        "",
        "Times are stored in UTC. Local-time rules (night hours, the evaluation date) use the policy time zone "
        "(`policy.timezone`, Asia/Shanghai by default).",
        "",
    ]


def _common(validator: EventValidator) -> list[str]:
    info = mi.type_info(Event)
    lines = [
        "## Fields every event carries",
        "",
        "| field | type | required | constraints | meaning |",
        "|---|---|---|---|---|",
        f"| `type` | string | required | one of the {len(EVENT_TYPES)} type names | {COMMON_NOTES['type']} |",
    ]
    rows = _field_rows(validator, "payment", list(info.fields), COMMON_NOTES)
    future = validator.rules.future_tolerance_seconds
    rows = [
        r.replace("| must carry a time zone |", f"| must carry a time zone; at most {future} s after the receiving clock |")
        for r in rows
    ]
    lines += rows
    lines.append("")
    return lines


def _validation(validator: EventValidator) -> list[str]:
    rules = validator.rules
    lines = [
        "## Validation",
        "",
        "Each event is validated on its own; a bad event is rejected with the field and the reason and kept in the "
        "dead letter, and the other events of the batch go on. Two layers apply:",
        "",
        "1. **Shape**, from the schema classes (msgspec): the `type` must be one of the types above; fields must have the "
        "types, lengths, patterns and enum values listed; required fields must be present; **unknown fields are rejected** "
        "(a misspelt field is an error, not silently dropped); a `null` is accepted only where the type says `or null`.",
        "2. **Policy rules**, from `lendguard.events.validation.EventValidator` and the policy's `[events]` section:",
        f"   - money (`decimal` fields): finite; **> 0**, except `balance` and `assets`, which may be **0**; at most "
        f"**{rules.amount_decimals}** decimal places (`events.amount_decimals`); at most **{rules.max_amount}** "
        f"(`events.max_amount`);",
        f"   - `ts` must carry a time zone and must not lie more than **{rules.future_tolerance_seconds} s** "
        f"(`events.future_tolerance_seconds`) after the receiving clock;",
        "   - `wealth_holding.since` must not lie in the future.",
        "",
        "What the validator answers for events that break one rule each (the first event is the `payment` example below, "
        f"changed as shown; the clock reads {EXAMPLE_NOW.isoformat()}):",
        "",
        "| case | input (changed part) | field | message |",
        "|---|---|---|---|",
    ]
    base = EXAMPLES["payment"][0]
    for case, raw in BAD_EXAMPLES:
        text = raw if isinstance(raw, str) else example_line(raw)
        outcome = validator.validate_one(text.encode(), "events.jsonl", 1)
        if not isinstance(outcome, Rejection):
            raise SystemExit(f"events_doc: the bad example {case!r} was accepted")
        if isinstance(raw, str):
            changed = text
        else:
            reference = EXAMPLES[raw["type"]][0] if raw.get("type") in EXAMPLES else base
            diff = {k: v for k, v in raw.items() if reference.get(k, object()) != v}
            gone = [k for k in reference if k not in raw]
            changed = ", ".join([f"`{k}: {_json_value(v)}`" for k, v in diff.items()] + [f"`{k}` left out" for k in gone])
        if isinstance(raw, str):
            changed = f"`{changed}`"
        message = outcome.message.replace("|", "\\|")
        lines.append(f"| {case} | {changed} | {_code(outcome.field) if outcome.field else '-'} | {message} |")
    lines.append("")
    return lines


def _dead_letter(validator: EventValidator) -> list[str]:
    bad = {**EXAMPLES["payment"][0], "amount": "36.505"}
    rejection = validator.validate_one(example_line(bad).encode(), "incoming/2026-11-23.jsonl", 18)
    assert isinstance(rejection, Rejection)
    record = {"rejected_at": "2026-11-23T16:00:02.120000+00:00", **rejection.to_record()}
    return [
        "## Rejected events: the dead letter",
        "",
        "Rejected events are never dropped. Before anything is acknowledged they are appended, one JSON object per line, "
        "to a dead-letter file (JSON Lines, flushed and fsynced):",
        "",
        "| written by | file |",
        "|---|---|",
        "| `lendguard ingest FILE` and `POST /v1/events` | `DATA_DIR/dead_letter/rejected.jsonl` |",
        "| `lendguard evaluate --events FILE` (events not stored) | `OUT/rejected.jsonl` |",
        "",
        "| key | meaning |",
        "|---|---|",
        "| `rejected_at` | when the rejection was written (UTC) |",
        "| `source` | the file path given to `ingest` / `evaluate --events`, or `http` for the API |",
        "| `position` | 1-based line number in a JSON Lines file (blank lines are skipped but keep their numbers), 1-based row in a Parquet file, 0-based index in an HTTP batch |",
        "| `field` | the offending field, or null when the event as a whole is bad (not JSON, not an object) |",
        "| `message` | why it was rejected |",
        "| `event_id` | the event's id when it could be read, to find it again |",
        "| `raw` | the event exactly as received (the line, or the row as JSON) |",
        "",
        "A dead-letter record (generated from a payment with `amount` `\"36.505\"` on line 18):",
        "",
        "```text",
        json.dumps(record, ensure_ascii=False),
        "```",
        "",
        "`lendguard ingest` prints the first rejections and exits with status 1 when any event was rejected. "
        "`POST /v1/events` answers 200 when at least one event was accepted and 422 when every event was rejected, "
        "listing each rejection as `{index, event_id, field, message}`; a batch holds at most 10,000 events (413 above).",
        "",
    ]


def _idempotency() -> list[str]:
    return [
        "## Idempotency by `event_id`",
        "",
        "`event_id` is the idempotency key. The store (`lendguard.store.events.EventStore.append`) looks every incoming id up "
        "in the catalogue's `event_ids` table and stores only new ones; within one batch the first event with an id wins. "
        "Skipped events are reported as `duplicates` (CLI summary, API response), so a client may retry a batch safely. "
        "The new ids are registered in the same SQLite transaction that commits the batch's Parquet part files, so an "
        "event is either stored with its id or not at all. A duplicate keeps the first version of the event: a corrected "
        "event must carry a new id.",
        "",
        "The synthetic generator's bulk load (`EventStore.append_bulk`) does not register ids (the generator guarantees "
        "they are new); re-ingesting synthetic events through `lendguard ingest` would therefore store them twice.",
        "",
    ]


def _parquet() -> list[str]:
    owners: dict[str, list[str]] = {}
    dtypes: dict[str, str] = {}
    for event_type in EVENT_TYPES:
        for name, dtype in frame_schema(event_type).items():
            owners.setdefault(name, []).append(event_type)
            # Event files store enum fields as text (types share names such as `action`).
            dtypes.setdefault(name, "String" if isinstance(dtype, pl.Enum) else str(dtype))
    lines = [
        "## Parquet layout",
        "",
        "### Event files (`lendguard ingest FILE.parquet`, `lendguard synth --export FILE.parquet`)",
        "",
        "One table holds every type: a `type` column plus the union of all types' fields. A row's fields that belong to "
        "other types are null and are ignored; a null in one of the row's own fields is passed on as null, so it is "
        "accepted only where the field may be null (a field with a non-null default, such as `merchant_category`, must "
        "then be written). Rows are validated like JSON events, and `position` in the dead letter is the 1-based row.",
        "",
        "| column | dtype (as written by lendguard) | used by |",
        "|---|---|---|",
        "| `type` | String | every type |",
    ]
    for name in sorted(owners, key=lambda n: (n not in COMMON_COLUMNS and n != "schema_version", n)):
        used = "every type" if len(owners[name]) == len(EVENT_TYPES) else ", ".join(f"`{t}`" for t in owners[name])
        lines.append(f"| `{name}` | {dtypes[name]} | {used} |")
    lines += [
        "",
        "Money is `Decimal(18, 2)` and times are `Datetime(us, UTC)` in the files lendguard writes. Files from elsewhere "
        "may hold money as text (`\"12.50\"`) or floats and times as RFC 3339 text: values are converted to the schema "
        "types and then validated like JSON events; a time column without a time zone is rejected row by row.",
        "",
        "### The event store",
        "",
        "Inside a data directory, accepted events are kept per type as Parquet part files "
        "`DATA_DIR/events/<type>/<batch_id>.parquet` (zstd, sorted by `user_id`, `ts`), with exactly the type's columns "
        "(common columns first, no `type` column). A part file counts only once its row in the SQLite catalogue "
        "(`DATA_DIR/catalog.sqlite`, table `event_batches`) is committed; `EventStore.recover` removes part files no "
        "committed batch refers to. See [architecture.md](architecture.md).",
        "",
    ]
    return lines


def _readers_summary() -> list[str]:
    lines = [
        "## Which checks read which events",
        "",
        "Any event of any type makes its user part of the population that is decided. The anti-fraud check (AF01) reads "
        "no event: it reads the `risk_states` table that the fraud engine writes.",
        "",
        "| event type | feature code | checks fed |",
        "|---|---|---|",
    ]
    for event_type in EVENT_TYPES:
        text, codes = READERS[event_type]
        modules = sorted({part.split("`")[0] for part in text.split("`features/")[1:]})
        module_text = ", ".join(f"`features/{m}`" for m in modules) or "none yet"
        checks = ", ".join(codes) or "none yet"
        lines.append(f"| `{event_type}` | {module_text} | {checks} |")
    lines.append("")
    return lines


def _type_section(validator: EventValidator, event_type: str) -> list[str]:
    cls = EVENT_CLASSES[event_type]
    info = mi.type_info(cls)
    common = set(Event.__struct_fields__)
    own = [f for f in info.fields if f.name not in common]
    text, codes = READERS[event_type]
    check_text = ", ".join(f"{c} `{CHECKS_BY_CODE[c].name}`" for c in codes)
    lines = [
        f"### {event_type}",
        "",
        _first_line(cls.__doc__),
        "",
        f"Fields besides the common ones (`type` = `\"{event_type}\"`, `event_id`, `user_id`, `ts`, `schema_version`):",
        "",
        "| field | type | required | constraints | meaning |",
        "|---|---|---|---|---|",
        *_field_rows(validator, event_type, own, FIELD_NOTES.get(event_type, {})),
        "",
        f"**Read by:** {text}" + (f" Checks: {check_text}." if codes else ""),
        "",
        "Example" + ("s" if len(EXAMPLES[event_type]) > 1 else "") + ":",
        "",
        "```json",
        *[example_line(e) for e in EXAMPLES[event_type]],
        "```",
        "",
    ]
    return lines


def render() -> str:
    """The whole of docs/events.md as text (validates the examples first)."""
    policy = load_policy()
    validator = EventValidator(policy.events, now=EXAMPLE_NOW)
    _check_hand_written()
    check_examples(validator)
    lines: list[str] = []
    lines += _intro(policy.version)
    lines += _formats()
    lines += _common(validator)
    lines += _validation(validator)
    lines += _dead_letter(validator)
    lines += _idempotency()
    lines += _parquet()
    lines += _readers_summary()
    lines += [
        "## Event types",
        "",
        f"Every `json` block below holds valid events: `tests/test_docs.py` validates each line with the default policy "
        f"and the clock at {EXAMPLE_NOW.isoformat()}.",
        "",
    ]
    for event_type in EVENT_TYPES:
        lines += _type_section(validator, event_type)
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that docs/events.md is up to date")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is out of date: run `python scripts/events_doc.py`", file=sys.stderr)
            return 1
        print(f"{args.output} is up to date")
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
