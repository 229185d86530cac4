"""Summarise a population's visibility decisions: shares, failures, breakdowns, funnel, distributions."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import polars as pl

from lendguard.features.logins import client_version_number
from lendguard.policy import Policy
from lendguard.policy.model import version_key
from lendguard.visibility.check import DIMENSIONS, FAIL, NOT_ASSESSABLE, WARN
from lendguard.visibility.decision import texts
from lendguard.visibility.dimensions import CHECKS_BY_CODE

REGION_TIERS = ("tier1", "new_tier1", "other", "county")
SECURITY_GRADES = ("A", "B", "C")
MISSING = "missing"
UNKNOWN_VERSION = "unknown"
VERSION_BAND = "version_band"  # derived column: the user's gray-release band label
BLOCKING = (FAIL, NOT_ASSESSABLE)
DEFAULT_BINS = 40
DEFAULT_CLIP_QUANTILE = 0.99


# --- what to summarise -------------------------------------------------------------------


@dataclass(frozen=True)
class MetricSpec:
    """A dimension's numeric metric and its policy threshold (`kind` "min": below fails; "max": above fails)."""

    dimension: str
    column: str
    label: str
    kind: Literal["min", "max"]
    threshold: float
    threshold_name: str


@dataclass(frozen=True)
class CategorySpec:
    """A dimension's categorical breakdown; `chart` says how the HTML report draws it."""

    dimension: str
    column: str
    label: str
    chart: Literal["stacked", "share", "count"]
    order: tuple[str, ...] = ()


DistributionSpec = MetricSpec | CategorySpec


def band_minimums(policy: Policy) -> tuple[str, ...]:
    """The gray-release bands' minimum client versions, highest first."""
    return tuple(band.min_version for band in policy.visibility.gray_release.bands)


def distribution_specs(policy: Policy) -> tuple[DistributionSpec, ...]:
    """Each dimension's main metric(s) with thresholds read from the policy, in dimension order."""
    v = policy.visibility
    return (
        MetricSpec("credit", "payments_per_month", "Payments per month", "min",
                   float(v.credit.min_payments_per_month), "min_payments_per_month"),
        MetricSpec("credit", "wealth_holding_days", "Wealth-product holding (days)", "min",
                   float(v.credit.min_wealth_holding_days), "min_wealth_holding_days"),
        MetricSpec("credit", "credit_history_years", "Credit history (years)", "min",
                   float(v.credit.min_credit_history_years), "min_credit_history_years"),
        MetricSpec("credit", "high_risk_contact_share", "Share of high-risk contacts", "max",
                   float(v.credit.max_high_risk_contact_share), "max_high_risk_contact_share"),
        CategorySpec("region", "region_tier", "Region tier", "stacked", REGION_TIERS),
        MetricSpec("kyc", "debit_banks", "Debit cards of different banks", "min",
                   float(v.kyc.min_debit_banks), "min_debit_banks"),
        MetricSpec("payment_behaviour", "offline_share", "Offline (QR) payment share", "min",
                   float(v.payment_behaviour.min_offline_share), "min_offline_share"),
        MetricSpec("payment_behaviour", "monthly_volatility", "Monthly spending volatility", "max",
                   float(v.payment_behaviour.max_monthly_volatility), "max_monthly_volatility"),
        MetricSpec("payment_behaviour", "night_share", "Night-time payment share", "max",
                   float(v.payment_behaviour.max_night_share), "max_night_share"),
        MetricSpec("partner_data", "bureau_queries_12m", "Credit-bureau queries (12 months)", "max",
                   float(v.partner_data.max_bureau_queries_per_year), "max_bureau_queries_per_year"),
        MetricSpec("device_security", "security_score", "Device security score", "min",
                   float(v.device_security.min_score), "min_score"),
        CategorySpec("gray_release", VERSION_BAND, "Client version band", "share"),
        CategorySpec("anti_fraud", "risk_level", "Risk level", "count"),
    )


# --- the summary ---------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupShare:
    group: str
    users: int
    visible: int
    visible_share: float | None  # None for an empty group


@dataclass(frozen=True)
class DimensionFailures:
    dimension: str
    title_en: str
    title_zh: str
    failing: int  # fail or not assessable
    failing_share: float
    fail: int
    not_assessable: int
    warn: int
    sole_blocker: int  # users hidden by this dimension alone


@dataclass(frozen=True)
class ReasonCount:
    code: str
    dimension: str | None
    count: int
    share: float  # of all users
    title_en: str
    title_zh: str


@dataclass(frozen=True)
class FunnelStep:
    step: int
    dimension: str
    title_en: str
    title_zh: str
    remaining: int  # users passing dimensions 1..step (pass or warn)
    share: float


@dataclass(frozen=True)
class Histogram:
    """Pre-binned counts of a metric; `boundary` is the bin edge separating failing from passing values."""

    dimension: str
    column: str
    label: str
    kind: Literal["min", "max"]
    threshold: float
    threshold_name: str
    boundary: float
    integer: bool
    bin_edges: tuple[float, ...]
    counts: tuple[int, ...]
    missing: int  # null or NaN
    clipped_above: int  # values beyond the last edge, counted in the last bin
    failing_side: int  # non-missing values on the failing side of the threshold
    type: str = field(default="histogram")


@dataclass(frozen=True)
class CategoryBreakdown:
    dimension: str
    column: str
    label: str
    chart: Literal["stacked", "share", "count"]
    groups: tuple[GroupShare, ...]
    type: str = field(default="categories")


@dataclass(frozen=True)
class PopulationSummary:
    users: int
    visible: int
    visible_share: float | None
    dimensions: tuple[DimensionFailures, ...]
    by_region_tier: tuple[GroupShare, ...]
    by_security_grade: tuple[GroupShare, ...]
    by_version_band: tuple[GroupShare, ...]
    top_reasons: tuple[ReasonCount, ...]  # every code that blocked someone, most frequent first
    funnel: tuple[FunnelStep, ...]
    distributions: tuple[Histogram | CategoryBreakdown, ...]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def dimension_titles(self) -> dict[str, tuple[str, str]]:
        """dimension -> (English, Chinese) title."""
        return {d.dimension: (d.title_en, d.title_zh) for d in self.dimensions}


# --- computation ---------------------------------------------------------------------------


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _title(catalogue: Mapping[str, Any], key: str, section: str | None = None) -> tuple[str, str]:
    entry = (catalogue.get(section, {}) if section else catalogue).get(key)
    if entry is None:
        return key, key
    title = entry if section else entry.get("title", {})
    return title.get("en", key), title.get("zh", key)


def band_labels(minimums: Sequence[str]) -> tuple[str, ...]:
    """Labels of the bands (highest first) plus one below the lowest: '>=8.0.40', '8.0.30-39', ..., '<8.0.20'."""
    ordered = sorted(minimums, key=version_key, reverse=True)
    labels = []
    for i, low in enumerate(ordered):
        if i == 0:
            labels.append(f">={low}")
            continue
        high = version_key(ordered[i - 1])
        low_key = version_key(low)
        if low_key[:-1] == high[:-1]:
            labels.append(f"{low}-{high[-1] - 1}")
        else:
            labels.append(f"{low}-<{ordered[i - 1]}")
    if ordered:
        labels.append(f"<{ordered[-1]}")
    return tuple(labels)


def version_band(minimums: Sequence[str], column: str = "client_version") -> pl.Expr:
    """The band label of each user's client version (`unknown` where there is none)."""
    ordered = sorted(minimums, key=version_key, reverse=True)
    labels = band_labels(ordered)
    number = client_version_number(column)
    expr = pl.when(number.is_null()).then(pl.lit(UNKNOWN_VERSION))
    for low, label in zip(ordered, labels, strict=False):
        major, minor, patch = version_key(low)
        expr = expr.when(number >= major * 1_000_000 + minor * 1_000 + patch).then(pl.lit(label))
    return expr.otherwise(pl.lit(labels[-1] if labels else UNKNOWN_VERSION)).alias(VERSION_BAND)


def with_version_band(frame: pl.DataFrame, minimums: Sequence[str], column: str = "client_version") -> pl.DataFrame:
    """`frame` plus its version-band column, parsing each distinct version once."""
    versions = frame.lazy().select(pl.col(column).unique()).with_columns(version_band(minimums, column)).collect()
    mapping = dict(versions.drop_nulls(column).iter_rows())
    band = pl.col(column).replace_strict(mapping, default=pl.lit(UNKNOWN_VERSION), return_dtype=pl.String)
    return frame.with_columns(band.alias(VERSION_BAND))


def group_shares(frame: pl.DataFrame, column: str, order: Sequence[str] = (), missing: str = MISSING) -> tuple[GroupShare, ...]:
    """Users and visible share per value of `column`: the listed groups first (even if empty), then any others."""
    counts = (
        frame.lazy()  # lazily, so only the two columns used are read
        .group_by(pl.col(column).cast(pl.String).fill_null(missing).alias("group"))
        .agg(pl.len().alias("users"), pl.col("visible").sum().alias("visible"))
        .sort("group")
        .collect()
    )
    found = {row["group"]: row for row in counts.iter_rows(named=True)}
    groups = list(order) + [g for g in found if g not in order and g != missing]
    if missing in found:
        groups.append(missing)
    rows = []
    for group in groups:
        users = int(found[group]["users"]) if group in found else 0
        visible = int(found[group]["visible"]) if group in found else 0
        rows.append(GroupShare(group, users, visible, _share(visible, users)))
    return tuple(rows)


def _statuses(decisions: pl.DataFrame) -> pl.DataFrame:
    """Per user and dimension: blocked (fail or not assessable), fail, warn; and the number of blocked dimensions."""
    blocked = [pl.col(f"dim_{d}").is_in(BLOCKING).fill_null(True).alias(f"{d}:blocked") for d in DIMENSIONS]
    flags = decisions.select(
        *blocked,
        *[(pl.col(f"dim_{d}") == FAIL).fill_null(False).alias(f"{d}:fail") for d in DIMENSIONS],
        *[(pl.col(f"dim_{d}") == WARN).fill_null(False).alias(f"{d}:warn") for d in DIMENSIONS],
    )
    return flags.with_columns(pl.sum_horizontal([pl.col(f"{d}:blocked") for d in DIMENSIONS]).alias("blocked_count"))


def _dimension_failures(flags: pl.DataFrame, catalogue: Mapping[str, Any]) -> tuple[DimensionFailures, ...]:
    users = flags.height
    exprs = []
    for d in DIMENSIONS:
        blocked = pl.col(f"{d}:blocked")
        exprs += [
            blocked.sum().alias(f"{d}:blocked"),
            pl.col(f"{d}:fail").sum().alias(f"{d}:fail"),
            pl.col(f"{d}:warn").sum().alias(f"{d}:warn"),
            (blocked & (pl.col("blocked_count") == 1)).sum().alias(f"{d}:sole"),
        ]
    row = flags.select(exprs).row(0, named=True)
    result = []
    for d in DIMENSIONS:
        en, zh = _title(catalogue, d, "dimensions")
        failing, fail = int(row[f"{d}:blocked"]), int(row[f"{d}:fail"])
        result.append(
            DimensionFailures(
                d, en, zh, failing, _share(failing, users) or 0.0,
                fail, failing - fail, int(row[f"{d}:warn"]), int(row[f"{d}:sole"]),
            )
        )
    return tuple(result)


def _funnel(flags: pl.DataFrame, catalogue: Mapping[str, Any]) -> tuple[FunnelStep, ...]:
    """Users passing dimensions 1..k: those whose first blocked dimension comes after k."""
    first_blocked = pl.coalesce(
        [pl.when(pl.col(f"{d}:blocked")).then(pl.lit(i)) for i, d in enumerate(DIMENSIONS)] + [pl.lit(len(DIMENSIONS))]
    )
    per_index = dict(flags.group_by(first_blocked.alias("first")).len().iter_rows())
    users = flags.height
    steps, remaining = [], users
    for i, d in enumerate(DIMENSIONS):
        remaining -= int(per_index.get(i, 0))
        en, zh = _title(catalogue, d, "dimensions")
        steps.append(FunnelStep(i + 1, d, en, zh, remaining, _share(remaining, users) or 0.0))
    return tuple(steps)


def _reasons(decisions: pl.DataFrame, catalogue: Mapping[str, Any]) -> tuple[ReasonCount, ...]:
    users = decisions.height
    counts = (
        decisions.select(pl.col("reason_codes").explode().drop_nulls().alias("code"))
        .group_by("code")
        .len()
        .sort(["len", "code"], descending=[True, False])
    )
    rows = []
    for code, count in counts.iter_rows():
        en, zh = _title(catalogue, code)
        check = CHECKS_BY_CODE.get(code)
        rows.append(ReasonCount(code, check.dimension if check else None, int(count), _share(int(count), users) or 0.0, en, zh))
    return tuple(rows)


def _nice_steps(raw: float, limit: float) -> list[float]:
    """The 1, 2, 2.5, 5 x 10^k steps from the smallest >= raw up to `limit`, ascending."""
    if raw <= 0 or not math.isfinite(raw):
        return [1.0]
    steps: list[float] = []
    power = 10.0 ** math.floor(math.log10(raw))
    while not steps or power <= limit:
        for factor in (1, 2, 2.5, 5, 10):
            step = factor * power
            if step >= raw * (1 - 1e-12) and (not steps or step <= limit) and step not in steps:
                steps.append(step)
        power *= 10
    return steps


def _float_step(raw: float, boundary: float, lo: float) -> float:
    """A round bin width near `raw`; for non-negative data, preferably one that puts an edge on 0 too."""
    steps = _nice_steps(raw, 2.5 * raw)
    if lo >= 0 and boundary > 0:
        for step in steps:
            ratio = boundary / step
            if abs(ratio - round(ratio)) < 1e-9:
                return step
    return steps[0]


def histogram(frame: pl.DataFrame, spec: MetricSpec, bins: int = DEFAULT_BINS, clip_quantile: float = DEFAULT_CLIP_QUANTILE) -> Histogram:
    """Counts of `spec.column` in about `bins` bins, one edge on the threshold, clipped at a high quantile."""
    dtype = frame.schema[spec.column]
    integer = dtype.is_integer() or dtype == pl.Boolean
    value = pl.col(spec.column).cast(pl.Float64)
    value = value.fill_nan(None)
    stats = frame.select(
        value.min().alias("lo"),
        value.quantile(clip_quantile, interpolation="higher").alias("hi"),
        value.is_null().sum().alias("missing"),
        (value < spec.threshold if spec.kind == "min" else value > spec.threshold).sum().alias("failing"),
    ).row(0, named=True)
    threshold = spec.threshold
    if integer:  # integer values never sit on a half-integer edge
        boundary = (math.ceil(threshold) - 0.5) if spec.kind == "min" else (math.floor(threshold) + 0.5)
    else:
        boundary = threshold
    lo = stats["lo"] if stats["lo"] is not None else boundary
    hi = stats["hi"] if stats["hi"] is not None else boundary
    lo, hi = min(lo, boundary), max(hi, boundary)
    if integer:
        lo, hi = lo - 0.5, hi + 0.5
        width = float(max(1, math.ceil((hi - lo) / bins)))
    else:
        width = _float_step((hi - lo) / bins if hi > lo else (abs(boundary) / 10 or 1.0), boundary, lo)
    start = boundary - math.ceil((boundary - lo) / width - 1e-9) * width
    count = max(1, math.ceil((hi - start) / width - 1e-9))
    if start + count * width <= boundary:  # keep at least one bin on the passing side of the line
        count += 1
    position = ((value - start) / width).round(9)
    # "min": a value equal to the threshold passes, so bins are closed on the left; "max": on the right.
    index = position.floor() if spec.kind == "min" or integer else position.ceil() - 1
    binned = frame.select(index.alias("raw")).drop_nulls("raw").select(
        pl.col("raw").clip(0, count - 1).cast(pl.Int64).alias("bin"), (pl.col("raw") > count - 1).alias("above")
    )
    per_bin = binned.group_by("bin").len()
    counts = [0] * count
    for b, n in per_bin.iter_rows():
        counts[int(b)] = int(n)
    edges = tuple(round(start + i * width, 12) + 0.0 for i in range(count + 1))  # + 0.0: no "-0.0"
    return Histogram(
        spec.dimension, spec.column, spec.label, spec.kind, threshold, spec.threshold_name, boundary, integer,
        edges, tuple(counts), int(stats["missing"]), int(binned["above"].sum()), int(stats["failing"]),
    )


def distributions(
    decisions: pl.DataFrame,
    specs: Sequence[DistributionSpec],
    bands: Sequence[str] = (),
    bins: int = DEFAULT_BINS,
    clip_quantile: float = DEFAULT_CLIP_QUANTILE,
) -> tuple[Histogram | CategoryBreakdown, ...]:
    """The chart data of each spec whose column the decisions carry (the band column is derived)."""
    frame = with_version_band(decisions, bands) if bands and "client_version" in decisions.columns else decisions
    result: list[Histogram | CategoryBreakdown] = []
    for spec in specs:
        if spec.column not in frame.columns:
            continue
        if isinstance(spec, MetricSpec):
            result.append(histogram(frame, spec, bins, clip_quantile))
        else:
            order = spec.order or (band_labels(bands) if spec.column == VERSION_BAND else ())
            result.append(CategoryBreakdown(spec.dimension, spec.column, spec.label, spec.chart, group_shares(frame, spec.column, order)))
    return tuple(result)


def summarize(
    decisions: pl.DataFrame,
    checks_catalogue: Mapping[str, Any] | None = None,
    *,
    bands: Sequence[str] = (),
    specs: Sequence[DistributionSpec] = (),
    bins: int = DEFAULT_BINS,
    clip_quantile: float = DEFAULT_CLIP_QUANTILE,
) -> PopulationSummary:
    """The population summary of a decision frame.

    `checks_catalogue` gives titles (default: the visibility texts); `bands` are the
    gray-release band minimum versions (see `band_minimums`); `specs` the per-dimension
    metrics to pre-bin for charts (see `distribution_specs`).
    """
    catalogue = texts() if checks_catalogue is None else checks_catalogue
    users = decisions.height
    visible = int(decisions["visible"].sum()) if users else 0
    flags = _statuses(decisions)
    banded = with_version_band(decisions.select("visible", "client_version"), bands) if bands and "client_version" in decisions.columns else None
    return PopulationSummary(
        users=users,
        visible=visible,
        visible_share=_share(visible, users),
        dimensions=_dimension_failures(flags, catalogue),
        by_region_tier=group_shares(decisions, "region_tier", REGION_TIERS) if "region_tier" in decisions.columns else (),
        by_security_grade=group_shares(decisions, "security_grade", SECURITY_GRADES) if "security_grade" in decisions.columns else (),
        by_version_band=group_shares(banded, VERSION_BAND, band_labels(bands), UNKNOWN_VERSION) if banded is not None else (),
        top_reasons=_reasons(decisions, catalogue),
        funnel=_funnel(flags, catalogue),
        distributions=distributions(decisions, specs, bands, bins, clip_quantile),
    )


def summarize_for_policy(decisions: pl.DataFrame, policy: Policy, checks_catalogue: Mapping[str, Any] | None = None) -> PopulationSummary:
    """`summarize` with the version bands and distribution thresholds of `policy`."""
    return summarize(decisions, checks_catalogue, bands=band_minimums(policy), specs=distribution_specs(policy))
