"""The policy file's schema: every threshold the engines read, validated at load.

Unknown keys are errors (a typo must not silently fall back to a default), and
ranges that only make sense one way round are checked here, so an engine can
trust any `Policy` it is handed.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    Field,
    field_validator,
    model_validator,
)

SharingLevel = Literal["none", "partial", "full"]
Grade = Literal["A", "B", "C"]
RegionTier = Literal["tier1", "new_tier1", "other", "county"]
RiskLevel = Literal["R1", "R2", "R3"]

SHARING_ORDER: dict[str, int] = {"none": 0, "partial": 1, "full": 2}
GRADE_ORDER: dict[str, int] = {"C": 0, "B": 1, "A": 2}


from lendguard.policy.audit import AuditPolicy  # noqa: E402
from lendguard.policy.base import Bilingual, Share, Strict  # noqa: E402  (re-exported)
from lendguard.policy.loans import LoanPolicy  # noqa: E402
from lendguard.policy.scoring import ScoringPolicy  # noqa: E402
from lendguard.policy.security import SecurityPolicy  # noqa: E402


class PolicyHeader(Strict):
    name: str
    version: str = Field(min_length=1)
    timezone: str = "Asia/Shanghai"
    description: str = ""

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


class EventRules(Strict):
    future_tolerance_seconds: int = Field(ge=0)
    amount_decimals: int = Field(ge=0, le=2)  # the event store keeps cents
    max_amount: Decimal = Field(gt=0)


class Windows(Strict):
    lookback_days: int = Field(ge=30, le=400)
    days_per_month: int = Field(ge=28, le=31)
    quarter_days: int = Field(ge=28, le=366)

    @model_validator(mode="after")
    def _whole_months(self) -> Windows:
        if self.lookback_days % self.days_per_month:
            raise ValueError(
                "lookback_days must be a whole number of months of days_per_month "
                f"(got {self.lookback_days} and {self.days_per_month})"
            )
        return self

    @property
    def months(self) -> int:
        return self.lookback_days // self.days_per_month


CREDIT_CHECKS = ("CR01", "CR02", "CR03", "CR04", "CR05")


class CreditPolicy(Strict):
    # Which checks make up the first dimension: the fixed thresholds CR01-CR04, the learned
    # score CR05 (the scorecard at `scoring.model`), or any mix of them.
    checks: list[str] = Field(min_length=1)
    min_payments_per_month: int = Field(ge=0)
    min_wealth_holding_days: int = Field(ge=0)
    min_wealth_balance: Decimal = Field(ge=0)
    min_credit_history_years: float = Field(ge=0)
    max_high_risk_contact_share: float = Share
    min_score: float  # CR05 fails strictly below this score
    # Scorecard features CR05's advice never asks a user to change (where they live...).
    fixed_features: list[str] = []

    @model_validator(mode="after")
    def _known_checks(self) -> CreditPolicy:
        unknown = [c for c in self.checks if c not in CREDIT_CHECKS]
        if unknown:
            raise ValueError(f"checks {unknown} are not credit checks; choose from {list(CREDIT_CHECKS)}")
        if len(set(self.checks)) != len(self.checks):
            raise ValueError(f"checks {self.checks} name a check twice")
        return self


class RestrictedGroup(Strict):
    group: str = Field(min_length=1)
    cities: list[str] = []


class RegionPolicy(Strict):
    unlicensed_provinces: list[str]
    fraud_focus_cities: list[str]
    geography_file: str
    min_agreeing_location_signals: int = Field(ge=1, le=3)
    line_factor: dict[RegionTier, Decimal]
    restricted_groups: list[RestrictedGroup] = []

    @field_validator("line_factor")
    @classmethod
    def _every_tier(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        missing = {"tier1", "new_tier1", "other", "county"} - set(value)
        if missing:
            raise ValueError(f"missing tiers {sorted(missing)}")
        bad = {k: str(v) for k, v in value.items() if not (0 <= v <= 1)}
        if bad:
            raise ValueError(f"factors must lie in [0, 1], got {bad}")
        return value


class KycPolicy(Strict):
    min_account_class: int = Field(ge=1, le=5)
    min_debit_banks: int = Field(ge=0)
    require_face_verification: bool
    require_id_both_sides: bool
    credit_card_repayment_lookback_days: int = Field(ge=1)
    min_credit_card_repayments: int = Field(ge=0)
    id_expiry_grace_days: int = Field(ge=0)


class PaymentBehaviourPolicy(Strict):
    min_offline_share: float = Share
    warn_offline_share: float = Share
    max_monthly_volatility: float = Field(gt=0)
    bad_monthly_volatility: float = Field(gt=0)
    min_bill_payments_per_quarter: int = Field(ge=0)
    red_packet_min_count: int = Field(ge=1)
    red_packet_max_imbalance: float = Share
    night_start_hour: int = Field(ge=0, le=23)
    night_end_hour: int = Field(ge=0, le=23)
    max_night_share: float = Share
    dormant_days: int = Field(ge=1)
    recent_days: int = Field(ge=1)
    large_amount: Decimal = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> PaymentBehaviourPolicy:
        if self.warn_offline_share < self.min_offline_share:
            raise ValueError(
                "warn_offline_share must be >= min_offline_share "
                f"(got {self.warn_offline_share} < {self.min_offline_share})"
            )
        if self.bad_monthly_volatility < self.max_monthly_volatility:
            raise ValueError(
                "bad_monthly_volatility must be >= max_monthly_volatility "
                f"(got {self.bad_monthly_volatility} < {self.max_monthly_volatility})"
            )
        if self.night_end_hour >= self.night_start_hour:
            raise ValueError(
                "night must wrap midnight: night_end_hour must be < night_start_hour "
                f"(got {self.night_end_hour} >= {self.night_start_hour})"
            )
        return self


class PartnerDataPolicy(Strict):
    categories: list[Literal["bureau", "bank_card", "insurance", "securities"]] = Field(min_length=1)
    min_sharing_level: SharingLevel
    bureau_refusal_blocks: bool
    max_bureau_queries_per_year: int = Field(ge=0)
    reference_line: dict[SharingLevel, Decimal]


class DeviceDeductions(Strict):
    rooted: int = Field(ge=0, le=100)
    modified_client: int = Field(ge=0, le=100)
    malware: int = Field(ge=0, le=100)
    unknown_sources: int = Field(ge=0, le=100)
    risky_wifi: int = Field(ge=0, le=100)
    failed_minor_check: int = Field(ge=0, le=100)


class DeviceSecurityPolicy(Strict):
    grade_a_min: int = Field(ge=0, le=100)
    grade_b_min: int = Field(ge=0, le=100)
    min_score: int = Field(ge=0, le=100)
    max_device_switches_per_month: float = Field(gt=0)
    max_risky_wifi_share: float = Share
    closing_checks: list[Literal["rooted", "modified_client", "malware"]]
    deductions: DeviceDeductions

    @model_validator(mode="after")
    def _ordered(self) -> DeviceSecurityPolicy:
        if self.grade_a_min <= self.grade_b_min:
            raise ValueError(
                f"grade_a_min must be > grade_b_min (got {self.grade_a_min} <= {self.grade_b_min})"
            )
        return self


class ReleaseBand(Strict):
    min_version: str = Field(pattern=r"^\d+\.\d+\.\d+$")
    features: Literal["full", "basic", "entry_only"]
    rollout_percent: float = Field(ge=0, le=100)


class ReleaseWave(Strict):
    starts: dt.date
    extra_percent: float = Field(ge=0, le=100)


class ReleaseBatch(Strict):
    name: str
    share_percent: float = Field(gt=0, le=100)
    opens: dt.date


class GrayReleasePolicy(Strict):
    salt: str = Field(min_length=1)
    bands: list[ReleaseBand] = Field(min_length=1)
    waves: list[ReleaseWave] = []
    batches: list[ReleaseBatch] = Field(min_length=1)

    @model_validator(mode="after")
    def _ordered(self) -> GrayReleasePolicy:
        keys = [version_key(b.min_version) for b in self.bands]
        if keys != sorted(keys, reverse=True) or len(set(keys)) != len(keys):
            raise ValueError("bands must be listed from the highest min_version down, without repeats")
        total = sum(b.share_percent for b in self.batches)
        if abs(total - 100) > 1e-9:
            raise ValueError(f"batch share_percent must add up to 100 (got {total})")
        starts = [w.starts for w in self.waves]
        if starts != sorted(starts):
            raise ValueError("waves must be listed in date order")
        return self


class AntiFraudPolicy(Strict):
    hiding_levels: list[RiskLevel]
    r1_recovery_days: int = Field(ge=0)


class VisibilityPolicy(Strict):
    credit: CreditPolicy
    region: RegionPolicy
    kyc: KycPolicy
    payment_behaviour: PaymentBehaviourPolicy
    partner_data: PartnerDataPolicy
    device_security: DeviceSecurityPolicy
    gray_release: GrayReleasePolicy
    anti_fraud: AntiFraudPolicy


class ConsentScope(Strict):
    """One authorization layer and the purposes a grant of it may name."""

    layer: int = Field(ge=1)
    name: Bilingual
    purposes: list[str] = Field(min_length=1)


class DataCategory(Strict):
    """A kind of user data: its event types, the scope that unlocks it, its retention."""

    scope: str
    event_types: list[str] = Field(min_length=1)
    retention_days: int = Field(ge=1)
    deletion_days_after_withdrawal: int = Field(ge=0)
    aggregate_scope: str | None = None
    shareable: bool = True


class ConsentPolicy(Strict):
    purposes: dict[str, Bilingual] = Field(min_length=1)
    optional_scopes: list[str]
    current_text: str
    texts: dict[str, str] = Field(min_length=1)  # version -> file beside the policy
    scopes: dict[str, ConsentScope] = Field(min_length=1)
    categories: dict[str, DataCategory] = Field(min_length=1)

    @model_validator(mode="after")
    def _references(self) -> ConsentPolicy:
        from typing import get_args

        from lendguard.events.schema import EVENT_TYPES, ConsentScopeName

        problems = []
        storable = get_args(ConsentScopeName)
        problems += [
            f"scopes.{name}: the consent event schema has no scope {name!r} (it stores {list(storable)}; a new layer needs a schema version)"
            for name in self.scopes
            if name not in storable
        ]
        for name, scope in self.scopes.items():
            unknown = sorted(set(scope.purposes) - set(self.purposes))
            if unknown:
                problems.append(f"scopes.{name}.purposes: unknown purpose(s) {unknown}")
        problems += [f"optional_scopes: unknown scope {s!r}" for s in self.optional_scopes if s not in self.scopes]
        if self.current_text not in self.texts:
            problems.append(f"current_text: {self.current_text!r} is not listed in consent.texts")
        owner: dict[str, str] = {}
        for name, category in self.categories.items():
            if category.scope not in self.scopes:
                problems.append(f"categories.{name}.scope: unknown scope {category.scope!r}")
            if category.aggregate_scope is not None and category.aggregate_scope not in self.scopes:
                problems.append(f"categories.{name}.aggregate_scope: unknown scope {category.aggregate_scope!r}")
            for event_type in category.event_types:
                if event_type not in EVENT_TYPES:
                    problems.append(f"categories.{name}.event_types: unknown event type {event_type!r}")
                elif event_type in owner:
                    problems.append(f"categories.{name}.event_types: {event_type!r} already belongs to {owner[event_type]!r}")
                owner[event_type] = name
        missing = sorted(set(EVENT_TYPES) - set(owner) - {"consent"})
        if missing:
            problems.append(f"categories: event type(s) {missing} belong to no category (every user datum needs one)")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def category_of(self, event_type: str) -> str | None:
        for name, category in self.categories.items():
            if event_type in category.event_types:
                return name
        return None


class ReviewBounds(Strict):
    """What a human reviewer may change; the review service refuses anything else."""

    overridable_checks: list[str]
    max_risk_steps_down: int = Field(ge=0, le=3)
    r2_needs_verification: bool
    max_line_change_share: float = Share


class ReviewPolicy(Strict):
    max_user_reviews_per_year: int = Field(ge=0)
    social_graph_cooling_off_hours: float = Field(ge=0)
    social_graph_checks: list[str]
    decide_within_days: int = Field(ge=1)
    override_rate_alert_ratio: float = Field(gt=1.0)
    override_alert_min_decided: int = Field(ge=1)
    bounds: ReviewBounds
    override_reasons: dict[str, Bilingual] = Field(min_length=1)

    @field_validator("override_reasons")
    @classmethod
    def _reason_codes(cls, reasons: dict[str, Bilingual]) -> dict[str, Bilingual]:
        bad = [code for code in reasons if not code.isalnum() or not code.isupper() and not code[0].isalpha()]
        if bad:
            raise ValueError(f"override reason codes must be short alphanumeric codes: {bad}")
        return reasons



# ---- anti-fraud (SPEC §3) -------------------------------------------------------------------
_DURATION = re.compile(r"^(\d+)([dhms])$")
_UNIT_SECONDS = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}


def duration_seconds(text: str) -> int:
    """'30d' / '2h' / '90m' / '45s' -> seconds."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration like '30d', '2h', '90m' or '45s'")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def _duration(text: str) -> str:
    duration_seconds(text)
    return text


Duration = Annotated[str, AfterValidator(_duration)]


class FraudRuleBase(Strict):
    """Fields every streaming rule has: what it reads, how it is keyed, the level it raises."""

    id: str = Field(pattern=r"^[A-Z]{2}\d{2,3}$")
    name: Bilingual
    event_type: str
    where: dict[str, str | bool] = {}  # field = value filters on the event
    key: str = "user_id"  # the field whose value the rule's state is kept per
    level: RiskLevel
    enabled: bool = True

    def fields(self) -> list[tuple[str, str]]:
        """(role, field name) of every event field the rule reads, for validation."""
        return [("key", self.key), *[(f"where.{k}", k) for k in self.where]]


class WindowedRule(FraudRuleBase):
    window: Duration

    @property
    def window_seconds(self) -> int:
        return duration_seconds(self.window)


class CountRule(WindowedRule):
    """More than `threshold` events per key within the window."""

    kind: Literal["count"]
    threshold: int = Field(ge=0)


class DistinctCountRule(WindowedRule):
    """More than `threshold` distinct values of `field` per key within the window.

    `signal_to = "members"` signals every user counted (all accounts on one device);
    "user" signals the user of the event that crossed the threshold."""

    kind: Literal["distinct_count"]
    field: str
    threshold: int = Field(ge=0)
    signal_to: Literal["user", "members"] = "user"

    def fields(self) -> list[tuple[str, str]]:
        return [*super().fields(), ("field", self.field)]


class ShareRule(WindowedRule):
    """The top `top` values of `field` hold more than `threshold` of the key's total
    (`value` summed, or events counted when `value` is empty), once `min_events` are seen."""

    kind: Literal["share"]
    field: str
    value: str = ""
    top: int = Field(ge=1)
    threshold: float = Share
    min_events: int = Field(ge=1)

    def fields(self) -> list[tuple[str, str]]:
        return [*super().fields(), ("field", self.field)] + ([("value", self.value)] if self.value else [])


class SequenceRule(WindowedRule):
    """Two consecutive events of a key whose `field` values differ, less than the window apart."""

    kind: Literal["sequence"]
    field: str

    def fields(self) -> list[tuple[str, str]]:
        return [*super().fields(), ("field", self.field)]


class EntropyRule(WindowedRule):
    """The Shannon entropy (bits) of `field` over the key's window exceeds `threshold`,
    once `min_events` are seen: a habit suddenly spread over many values. With a
    `baseline` (a longer look-back that includes the window), the entropy must also
    exceed that of the events before the window by `min_rise` bits: a user who always
    spread their spending is not a sudden change."""

    kind: Literal["entropy"]
    field: str
    threshold: float = Field(gt=0)
    min_events: int = Field(ge=1)
    baseline: Duration | None = None
    min_rise: float = Field(default=0.0, ge=0)

    @model_validator(mode="after")
    def _baseline(self) -> EntropyRule:
        if self.baseline and duration_seconds(self.baseline) <= self.window_seconds:
            raise ValueError(f"baseline {self.baseline!r} must be longer than the window {self.window!r}")
        return self

    @property
    def baseline_seconds(self) -> int:
        return duration_seconds(self.baseline) if self.baseline else 0

    def fields(self) -> list[tuple[str, str]]:
        return [*super().fields(), ("field", self.field)]


class FlaggedLinkRule(FraudRuleBase):
    """Any event whose `field` names an account at one of `flagged_levels` (or listed as flagged)."""

    kind: Literal["flagged_link"]
    field: str
    flagged_levels: list[RiskLevel] = Field(min_length=1)

    def fields(self) -> list[tuple[str, str]]:
        return [*super().fields(), ("field", self.field)]


FraudRule = Annotated[
    CountRule | DistinctCountRule | ShareRule | SequenceRule | EntropyRule | FlaggedLinkRule,
    Field(discriminator="kind"),
]


class FraudGraphPolicy(Strict):
    """The periodic fund-flow and device-sharing graph job."""

    lookback_days: int = Field(ge=1)
    min_members: int = Field(ge=2)
    max_members: int = Field(ge=2)
    min_density: float = Share
    min_flagged: int = Field(ge=1)
    level: RiskLevel


class FraudPolicy(Strict):
    """The streaming engine: its rules, how late an event may be, how often state is saved."""

    purpose: str
    lateness: Duration
    checkpoint_every: int = Field(ge=1)
    rules: list[FraudRule] = Field(min_length=1)
    graph: FraudGraphPolicy

    @property
    def lateness_seconds(self) -> int:
        return duration_seconds(self.lateness)

    @model_validator(mode="after")
    def _rules(self) -> FraudPolicy:
        from lendguard.events.schema import EVENT_CLASSES

        problems = []
        seen: set[str] = set()
        for index, rule in enumerate(self.rules):
            where = f"rules.{index} ({rule.id})"
            if rule.id in seen:
                problems.append(f"{where}.id: {rule.id!r} is used by another rule")
            seen.add(rule.id)
            event_class = EVENT_CLASSES.get(rule.event_type)
            if event_class is None:
                problems.append(f"{where}.event_type: unknown event type {rule.event_type!r}")
                continue
            known = set(event_class.__struct_fields__)
            for role, name in rule.fields():
                if name not in known:
                    problems.append(f"{where}.{role}: {rule.event_type} events have no field {name!r} (they have {sorted(known)})")
        if self.graph.max_members < self.graph.min_members:
            problems.append("graph.max_members must be >= graph.min_members")
        if problems:
            raise ValueError("; ".join(problems))
        return self

class PolicyDocument(Strict):
    """The whole file as written by a risk team."""

    policy: PolicyHeader
    events: EventRules
    windows: Windows
    visibility: VisibilityPolicy
    consent: ConsentPolicy
    reviews: ReviewPolicy
    fraud: FraudPolicy
    loans: LoanPolicy
    scoring: ScoringPolicy
    audit: AuditPolicy
    security: SecurityPolicy


def version_key(version: str) -> tuple[int, ...]:
    """'8.0.40' -> (8, 0, 40): client versions compare numerically, not as text."""
    return tuple(int(part) for part in version.split("."))
