"""Dimension 6, device and network security: closing findings, device switching, risky Wi-Fi, score."""

from __future__ import annotations

import datetime as dt

import polars as pl

from lendguard.features.logins import allowed_switches
from lendguard.visibility.check import Advice, Check, ceil_int, graded

DIMENSION = "device_security"


def _closing(finding: str):
    def status(policy, as_of):
        closes = finding in policy.visibility.device_security.closing_checks
        return graded(pl.col(finding) if closes else pl.lit(False))

    def advice(policy, as_of):
        closes = finding in policy.visibility.device_security.closing_checks
        return Advice(variant=pl.when(pl.col(finding) & pl.lit(closes)).then(pl.lit(f"fix_{finding}")))

    return status, advice


def _switch_status(policy, as_of):
    return graded(pl.col("device_switches_per_month") >= policy.visibility.device_security.max_device_switches_per_month)


def _switch_advice(policy, as_of):
    """Days on one device until the switch that keeps the rate too high leaves the window."""
    failing = pl.col("device_switches_per_month") >= policy.visibility.device_security.max_device_switches_per_month
    window_start = as_of.at - dt.timedelta(days=as_of.lookback_days)
    days = ceil_int((pl.col("blocking_switch_at") - pl.lit(window_start)).dt.total_seconds() / 86_400.0 + 1e-6)
    return Advice(
        variant=pl.when(failing).then(pl.lit("one_device")),
        params={"days": pl.when(failing).then(days.clip(lower_bound=1)), "allowed": pl.when(failing).then(pl.lit(allowed_switches(as_of, policy)))},
    )


def _wifi_status(policy, as_of):
    return graded(pl.col("risky_wifi_share") > policy.visibility.device_security.max_risky_wifi_share)


def _wifi_advice(policy, as_of):
    """k sessions on trusted networks: risky / (n + k) <= t  <=>  k >= risky / t - n."""
    t = policy.visibility.device_security.max_risky_wifi_share
    failing = pl.col("risky_wifi_share") > t
    sessions = ceil_int(pl.col("risky_wifi_reports") / t - pl.col("security_reports")).clip(lower_bound=1)
    return Advice(variant=pl.when(failing).then(pl.lit("trusted_network")), params={"sessions": pl.when(failing).then(sessions)})


def _score_status(policy, as_of):
    score = pl.col("security_score")
    return graded(score < policy.visibility.device_security.min_score, unknown=score.is_null())


def _score_advice(policy, as_of):
    """The fixes that lift the score to the minimum: closing findings first (they close the
    entry anyway), then the largest optional gains: 'unknown sources', risky Wi-Fi, minor checks."""
    rules = policy.visibility.device_security
    d = rules.deductions
    score = pl.col("security_score")
    failing = score < rules.min_score
    # From the unfloored points, so a score floored at 0 still gets a sufficient plan.
    gap = pl.lit(rules.min_score) - (100 - pl.col("security_deductions"))
    closing = [f for f in ("rooted", "modified_client", "malware") if f in rules.closing_checks]
    restored = pl.sum_horizontal([pl.col(f).cast(pl.Int64) * getattr(d, f) for f in closing] or [pl.lit(0)])
    after_closing = (gap - restored).clip(lower_bound=0)
    fix_unknown = pl.col("unknown_sources") & (after_closing > 0)
    after_unknown = (after_closing - fix_unknown.cast(pl.Int64) * d.unknown_sources).clip(lower_bound=0)
    wifi_hit = pl.col("risky_wifi_share") > rules.max_risky_wifi_share / 2
    fix_wifi = wifi_hit & (after_unknown > 0) & (after_unknown > pl.col("failed_minor_checks") * d.failed_minor_check)
    after_wifi = (after_unknown - fix_wifi.cast(pl.Int64) * d.risky_wifi).clip(lower_bound=0)
    minor_needed = ceil_int(after_wifi / d.failed_minor_check) if d.failed_minor_check else pl.lit(0)
    # risky / (n + k) <= max / 2  <=>  k >= 2 * risky / max - n
    sessions = ceil_int(2 * pl.col("risky_wifi_reports") / rules.max_risky_wifi_share - pl.col("security_reports")).clip(lower_bound=1)
    findings = pl.concat_list([pl.when(pl.col(f)).then(pl.lit(f)) for f in closing] or [pl.lit(None, dtype=pl.String)]).list.drop_nulls()
    return Advice(
        variant=pl.when(score.is_null()).then(pl.lit("run_device_check")).when(failing).then(pl.lit("raise_score")),
        params={
            "points": pl.when(failing).then(pl.lit(rules.min_score) - score),
            "fix_findings": pl.when(failing).then(findings),
            "disable_unknown_sources": pl.when(failing).then(fix_unknown),
            "trusted_sessions": pl.when(failing & fix_wifi).then(sessions),
            "minor_checks": pl.when(failing).then(pl.min_horizontal(minor_needed, pl.col("failed_minor_checks"))),
        },
    )


_rooted = _closing("rooted")
_modified = _closing("modified_client")
_malware = _closing("malware")

CHECKS = (
    Check(
        code="DS01",
        dimension=DIMENSION,
        name="rooted",
        measured=("rooted", "primary_device", "os"),
        thresholds=lambda p: {"closing_checks": list(p.visibility.device_security.closing_checks)},
        status=_rooted[0],
        advice=_rooted[1],
    ),
    Check(
        code="DS02",
        dimension=DIMENSION,
        name="modified_client",
        measured=("modified_client",),
        thresholds=lambda p: {"closing_checks": list(p.visibility.device_security.closing_checks)},
        status=_modified[0],
        advice=_modified[1],
    ),
    Check(
        code="DS03",
        dimension=DIMENSION,
        name="malware",
        measured=("malware",),
        thresholds=lambda p: {"closing_checks": list(p.visibility.device_security.closing_checks)},
        status=_malware[0],
        advice=_malware[1],
    ),
    Check(
        code="DS04",
        dimension=DIMENSION,
        name="device_switching",
        measured=("device_switches_per_month", "device_switches"),
        thresholds=lambda p: {"max_device_switches_per_month": p.visibility.device_security.max_device_switches_per_month},
        status=_switch_status,
        advice=_switch_advice,
    ),
    Check(
        code="DS05",
        dimension=DIMENSION,
        name="risky_wifi",
        measured=("risky_wifi_share", "risky_wifi_reports", "security_reports"),
        thresholds=lambda p: {"max_risky_wifi_share": p.visibility.device_security.max_risky_wifi_share},
        status=_wifi_status,
        advice=_wifi_advice,
    ),
    Check(
        code="DS06",
        dimension=DIMENSION,
        name="security_score",
        measured=("security_score", "security_grade", "unknown_sources", "failed_minor_checks"),
        thresholds=lambda p: {
            "min_score": p.visibility.device_security.min_score,
            "grade_a_min": p.visibility.device_security.grade_a_min,
            "grade_b_min": p.visibility.device_security.grade_b_min,
        },
        status=_score_status,
        advice=_score_advice,
    ),
)
