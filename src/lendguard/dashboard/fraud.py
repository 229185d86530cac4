"""Fraud alerts as the risk team watches them: users at each risk level (R1–R3), the
transitions the rules and the graph job made recently, by rule and by day, the newest ones,
and the rings the graph job found (with precision and recall on planted fraud when the
data are synthetic and carry labels)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl

from lendguard.dashboard.section import empty, ok
from lendguard.fraud.book import RECOVERY_RULE
from lendguard.fraud.evaluation import GRAPH_RULE
from lendguard.fraud.graph import Ring
from lendguard.policy import Policy

LEVELS = ("R0", "R1", "R2", "R3")
RECENT_DAYS = 30
RINGS_SHOWN = 20
TRANSITION_SCHEMA = pl.Schema({"user_id": pl.String, "from_level": pl.String, "to_level": pl.String, "rule_id": pl.String, "at": pl.Datetime("us", "UTC")})


def rule_titles(policy: Policy) -> dict[str, dict[str, str]]:
    """Each rule id's name in both languages: the policy's streaming rules, the graph job, R1's recovery."""
    titles = {rule.id: rule.name.model_dump() for rule in policy.fraud.rules}
    titles[GRAPH_RULE] = {"en": "Fraud ring (graph job)", "zh": "欺诈团伙（图计算任务）"}
    titles[RECOVERY_RULE] = {"en": "R1 recovered after its waiting period", "zh": "R1 到期自动恢复"}
    return titles


def _daily(recent: pl.DataFrame, start: dt.date, end: dt.date, timezone: str) -> dict[str, Any]:
    """Transitions per local day and rule over the window, every day present (zeros included)."""
    days = pl.date_range(start, end, "1d", eager=True).alias("day")
    counts = recent.group_by(pl.col("at").dt.convert_time_zone(timezone).dt.date().alias("day"), "rule_id").len()
    rules = sorted(counts["rule_id"].unique().to_list())
    grid = days.to_frame().join(pl.DataFrame({"rule_id": rules}, schema={"rule_id": pl.String}), how="cross")
    filled = grid.join(counts, on=["day", "rule_id"], how="left").with_columns(pl.col("len").fill_null(0)).sort("rule_id", "day")
    series = filled.group_by("rule_id", maintain_order=True).agg(pl.col("len").alias("counts"))
    return {"days": days.to_list(), "series": series.to_dicts()}


def fraud_section(
    levels: pl.DataFrame,
    transitions: pl.DataFrame,
    latest: Sequence[dict[str, Any]],
    rings: Sequence[Ring],
    detection: dict[str, Any] | None,
    at: dt.datetime,
    policy: Policy,
) -> dict[str, Any]:
    """`levels` (level, users) from risk_states; `transitions` (TRANSITION_SCHEMA) every stored
    transition; `latest` the newest transitions; `rings` each ring as last found; `at` the end of the window."""
    if levels.height == 0 and transitions.height == 0 and not rings:
        return empty(
            "No risk levels, transitions or rings yet: run the fraud engine (`lendguard fraud run --from-store`) and the graph job (`lendguard fraud rings --run`).",
            "尚无风险等级、等级变更或团伙：请运行反欺诈引擎（`lendguard fraud run --from-store`）和图计算任务（`lendguard fraud rings --run`）。",
            titles=rule_titles(policy),
        )
    per_level = dict(levels.select("level", "users").iter_rows())
    start = at - dt.timedelta(days=RECENT_DAYS)
    recent = transitions.filter((pl.col("at") > start) & (pl.col("at") <= at))
    by_rule = (
        transitions.group_by("rule_id", "to_level")
        .agg(pl.len().alias("total"), (pl.col("at") > start).and_(pl.col("at") <= at).sum().alias("recent"), pl.col("user_id").n_unique().alias("users"))
        .sort("rule_id", "to_level")
    )
    zone = policy.timezone
    kinds = pl.DataFrame({"kind": [r.kind for r in rings]}, schema={"kind": pl.String}).group_by("kind").len().sort("kind")
    return ok(
        titles=rule_titles(policy),
        levels=[{"level": level, "users": int(per_level.get(level, 0))} for level in LEVELS],
        window={"days": RECENT_DAYS, "from": start, "to": at},
        by_rule=by_rule.to_dicts(),
        daily=_daily(recent, start.astimezone(ZoneInfo(zone)).date(), at.astimezone(ZoneInfo(zone)).date(), zone),
        latest=[{k: t[k] for k in ("user_id", "from_level", "to_level", "rule_id", "at")} for t in latest],
        rings={
            "total": len(rings),
            "users": len({u for r in rings for u in r.users}),
            "by_kind": kinds.rename({"len": "rings"}).to_dicts(),
            "largest": [
                {"ring_id": r.ring_id, "kind": r.kind, "size": r.size, "users": len(r.users), "flagged": len(r.flagged),
                 "edges": r.edges, "density": r.density, "amount": r.amount}
                for r in rings[:RINGS_SHOWN]
            ],
        },
        detection=detection,
    )
