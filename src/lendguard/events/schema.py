"""The typed, versioned event schema: every fact the engines read arrives as one of these.

Each event type is a msgspec Struct tagged by its `type` field. The same classes
decode JSON Lines and HTTP bodies, convert rows read from Parquet, and produce the
JSON Schema printed by `lendguard schema`; docs/events.md documents each field.
Money is `Decimal`; times are timezone-aware.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Literal, Union

import msgspec

SCHEMA_VERSION = 1

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=128, pattern=r"^\S+$")]
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
Province = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Version = Annotated[str, msgspec.Meta(pattern=r"^\d{1,3}\.\d{1,3}\.\d{1,3}$")]
Count = Annotated[int, msgspec.Meta(ge=0, le=1_000_000)]
AwareTime = Annotated[dt.datetime, msgspec.Meta(tz=True)]
Money = Decimal  # positivity and decimal places are checked by events.validation


class Event(msgspec.Struct, tag_field="type", forbid_unknown_fields=True, kw_only=True, frozen=True):
    """Fields every event carries."""

    event_id: Id
    user_id: Id
    ts: AwareTime
    schema_version: Literal[1] = 1


class Payment(Event, tag="payment"):
    """A payment made by the user: offline (merchant QR scan) or online."""

    amount: Money
    channel: Literal["offline_qr", "online"]
    counterparty: Id
    merchant_category: Text = "general"


class Transfer(Event, tag="transfer"):
    """A transfer or red packet sent or received by the user."""

    kind: Literal["transfer", "red_packet"]
    direction: Literal["in", "out"]
    amount: Money
    counterparty: Id


class Login(Event, tag="login"):
    """A login: the device, client and the three location signals."""

    device_id: Id
    device_model: Text
    os: Literal["android", "ios", "harmony", "other"]
    client_version: Version
    ip: Text
    ip_province: Province | None = None
    lbs_province: Province | None = None
    lbs_city: Province | None = None
    phone_province: Province | None = None


class DeviceSecurity(Event, tag="device_security"):
    """A device security report from the client's checks."""

    device_id: Id
    rooted: bool = False
    modified_client: bool = False
    unknown_sources: bool = False
    malware: bool = False
    risky_wifi: bool = False
    checks_run: Count = 120
    failed_minor_checks: Count = 0


class BankCard(Event, tag="bank_card"):
    """A bank card bound to or unbound from the payment account."""

    action: Literal["bind", "unbind"]
    card_id: Id
    bank: Text
    card_type: Literal["debit", "credit"]


class Identity(Event, tag="identity"):
    """A real-name verification update (face, ID card sides, expiry date)."""

    face_verified: bool = False
    id_front: bool = False
    id_back: bool = False
    id_expiry: dt.date | None = None


class CreditCardRepayment(Event, tag="credit_card_repayment"):
    """A repayment of a credit card through the payment account."""

    amount: Money
    bank: Text


class WealthHolding(Event, tag="wealth_holding"):
    """A snapshot of one wealth-product holding: balance and the date it has been held since."""

    product: Id
    balance: Money
    since: dt.date


class BillPayment(Event, tag="bill_payment"):
    """A utility or bill payment (electricity, water, gas, phone...)."""

    amount: Money
    biller: Literal["electricity", "water", "gas", "phone", "broadband", "property", "other"]


class PartnerReport(Event, tag="partner_report"):
    """Data from one of the partner institutions, or the user's refusal to share it."""

    institution: Id
    category: Literal["bureau", "bank_card", "insurance", "securities"]
    shared: bool = True
    credit_accounts: Count | None = None
    queries_12m: Count | None = None
    oldest_account_opened: dt.date | None = None
    policies: Count | None = None
    assets: Money | None = None


class AppOpen(Event, tag="app_open"):
    """Opens of the app since the previous app_open event (a daily aggregate is typical)."""

    count: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 1


class ExternalScore(Event, tag="external_score"):
    """A credit score from an external provider (a Sesame-like score, 350-950), as shared."""

    provider: Id
    score: Annotated[int, msgspec.Meta(ge=0, le=1000)]


class SocialContact(Event, tag="social_contact"):
    """A contact in the user's social graph and whether it carries a risk flag."""

    contact_id: Id
    action: Literal["add", "remove"] = "add"
    relation: Literal["friend", "family", "colleague", "other"] = "friend"
    high_risk: bool = False


ConsentScopeName = Literal["basic_profile", "phone_device", "deep_credit"]


class Consent(Event, tag="consent"):
    """A grant or withdrawal of one authorization layer for declared purposes.

    The scope names are part of the stored schema (an Enum column); the policy may
    describe them, but a new layer needs a new schema version."""

    scope: ConsentScopeName
    action: Literal["grant", "withdraw"]
    purposes: Annotated[list[Id], msgspec.Meta(min_length=1)]
    text_version: Text
    text_hash: Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$")]


class Profile(Event, tag="profile"):
    """Profile facts: special customer group, real-name date, birth year."""

    customer_group: Text | None = None
    real_name_since: dt.date | None = None
    birth_year: Annotated[int, msgspec.Meta(ge=1900, le=2100)] | None = None


AnyEvent = Union[
    Payment,
    Transfer,
    Login,
    DeviceSecurity,
    BankCard,
    Identity,
    CreditCardRepayment,
    WealthHolding,
    BillPayment,
    PartnerReport,
    AppOpen,
    ExternalScore,
    SocialContact,
    Consent,
    Profile,
]

EVENT_CLASSES: dict[str, type[Event]] = {cls.__struct_config__.tag: cls for cls in AnyEvent.__args__}
EVENT_TYPES: tuple[str, ...] = tuple(EVENT_CLASSES)


def json_schema() -> dict:
    """The JSON Schema of one event (a tagged union over `type`)."""
    schema = msgspec.json.schema(AnyEvent)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = f"lendguard event, schema version {SCHEMA_VERSION}"
    return schema
