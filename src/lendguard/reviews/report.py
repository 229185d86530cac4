"""The overrides report: how often each reviewer overrides the system, against the team, and what is overdue.

A reviewer is flagged when their override rate exceeds the team's by
`policy.reviews.override_rate_alert_ratio` and they decided at least `min_decided`
reviews (default `policy.reviews.override_alert_min_decided`). Below that sample one decision moves a rate by ten
points or more, so a flag would say more about chance than about the reviewer.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.table import Table

from lendguard.policy import Policy
from lendguard.reviews.domain import STATUSES, Review
from lendguard.reviews.rules import decided_late, due_at, is_overdue


def _rate(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(part / whole, 4)


def _tally(decided: list[Review]) -> dict[str, Any]:
    overridden = [r for r in decided if r.outcome == "overridden"]
    risk = Counter(
        f"{r.changes['risk_level']['from']}->{r.changes['risk_level']['to']}" for r in overridden if r.changes.get("risk_level")
    )
    return {
        "decided": len(decided),
        "upheld": len(decided) - len(overridden),
        "overridden": len(overridden),
        "override_rate": _rate(len(overridden), len(decided)),
        "by_reason": dict(sorted(Counter(r.reason_code for r in overridden if r.reason_code).items())),
        "by_check": dict(sorted(Counter(c for r in overridden for c in r.changes.get("cleared_checks") or []).items())),
        "risk_level_changes": dict(sorted(risk.items())),
        "line_changes": sum(1 for r in overridden if r.changes.get("line")),
    }


def build_report(reviews: Iterable[Review], now: dt.datetime, policy: Policy, min_decided: int | None = None) -> dict[str, Any]:
    """The report as a JSON-able dict (what `lendguard review report --json` prints)."""
    reviews = list(reviews)
    ratio = policy.reviews.override_rate_alert_ratio
    min_decided = min_decided or policy.reviews.override_alert_min_decided
    decided = [r for r in reviews if r.status == "decided"]
    team = _tally(decided)
    team_rate = team["override_rate"]
    rows = []
    for name in sorted({r.reviewer for r in decided if r.reviewer}):
        own = [r for r in decided if r.reviewer == name]
        row = {"reviewer": name, **_tally(own)}
        row["ratio_to_team"] = None if not team_rate or row["override_rate"] is None else round(row["override_rate"] / team_rate, 4)
        row["decided_late"] = sum(1 for r in own if decided_late(r, policy))
        row["in_review"] = sum(1 for r in reviews if r.status == "in_review" and r.reviewer == name)
        row["enough_sample"] = row["decided"] >= min_decided
        row["flagged"] = bool(row["enough_sample"] and team_rate is not None and row["override_rate"] > team_rate * ratio)
        rows.append(row)
    overdue = [
        {
            "review_id": r.review_id,
            "user_id": r.user_id,
            "kind": r.kind,
            "status": r.status,
            "reviewer": r.reviewer,
            "requested_at": r.requested_at.isoformat(),
            "due_at": due_at(r, policy).isoformat(),
            "days_overdue": round((now - due_at(r, policy)).total_seconds() / 86_400, 1),
        }
        for r in reviews
        if is_overdue(r, now, policy)
    ]
    return {
        "generated_at": now.isoformat(),
        "policy_version": policy.version,
        "alert_ratio": ratio,
        "min_decided": min_decided,
        "decide_within_days": policy.reviews.decide_within_days,
        "by_status": {status: sum(1 for r in reviews if r.status == status) for status in STATUSES},
        "team": team,
        "reviewers": rows,
        "flagged": [row["reviewer"] for row in rows if row["flagged"]],
        "overdue": sorted(overdue, key=lambda o: o["due_at"]),
    }


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items()) or "-"


def render_report(report: dict[str, Any], console: Console) -> None:
    """The report as Rich tables: reviewers against the team, then overdue reviews."""
    team = report["team"]
    console.print(
        f"[bold]Human reviews[/]  policy {report['policy_version']}  as of {report['generated_at']}  "
        + "  ".join(f"{k} {v}" for k, v in report["by_status"].items())
    )
    table = Table(title=f"Overrides per reviewer (flag: rate > {report['alert_ratio']}× team, at least {report['min_decided']} decided)")
    for column in ("reviewer", "decided", "overridden", "rate", "× team", "by reason", "by check", "risk changes", "late", "flag"):
        table.add_column(column, justify="right" if column in {"decided", "overridden", "rate", "× team", "late"} else "left")
    for row in report["reviewers"]:
        flag = "[bold red]FLAG[/]" if row["flagged"] else ("" if row["enough_sample"] else "[dim]small sample[/]")
        ratio = "-" if row["ratio_to_team"] is None else f"{row['ratio_to_team']:.1f}"
        table.add_row(
            row["reviewer"], str(row["decided"]), str(row["overridden"]), _pct(row["override_rate"]), ratio,
            _counts(row["by_reason"]), _counts(row["by_check"]), _counts(row["risk_level_changes"]), str(row["decided_late"]), flag,
        )
    table.add_section()
    table.add_row(
        "[bold]team[/]", str(team["decided"]), str(team["overridden"]), _pct(team["override_rate"]), "1.0",
        _counts(team["by_reason"]), _counts(team["by_check"]), _counts(team["risk_level_changes"]), "", "",
    )
    console.print(table)
    if report["overdue"]:
        late = Table(title=f"Overdue (not decided within {report['decide_within_days']} days)")
        for column in ("review", "user", "kind", "status", "reviewer", "due", "days over"):
            late.add_column(column)
        for o in report["overdue"]:
            late.add_row(o["review_id"], o["user_id"], o["kind"], o["status"], o["reviewer"] or "-", o["due_at"], f"{o['days_overdue']:.1f}")
        console.print(late)
    else:
        console.print("No overdue reviews.")
