"""Who sees the loan entry: shares visible, failures per dimension, the funnel of the eight
dimensions, the top reasons, and visibility by region tier and province, from the population's
stored decisions (`lendguard evaluate`). The numbers are `report.summary`'s, as in report.html."""

from __future__ import annotations

from typing import Any

import polars as pl

from lendguard.dashboard.section import empty, ok
from lendguard.policy import Policy
from lendguard.report.summary import band_minimums, group_shares, summarize

TOP_REASONS = 15


def population_section(decisions: pl.DataFrame | None, policy: Policy) -> dict[str, Any]:
    if decisions is None:
        return empty(
            "No decisions yet: run `lendguard evaluate` (or `lendguard demo`) on this data directory.",
            "尚无可见性决策：请在此数据目录运行 `lendguard evaluate`（或 `lendguard demo`）。",
        )
    if decisions.height == 0:
        return empty("The last evaluation decided no users.", "最近一次评估没有任何用户。")
    summary = summarize(decisions, bands=band_minimums(policy))
    provinces = group_shares(decisions, "province") if "province" in decisions.columns else ()
    decided_under = decisions.select(pl.col("policy_version").first(), pl.col("policy_sha256").first()).row(0) if "policy_sha256" in decisions.columns else (None, None)
    return ok(
        users=summary.users,
        visible=summary.visible,
        visible_share=summary.visible_share,
        decided_under={"policy_version": decided_under[0], "policy_sha256": decided_under[1], "current": decided_under[1] == policy.sha256},
        dimensions=summary.dimensions,
        dimension_funnel=summary.funnel,
        top_reasons=summary.top_reasons[:TOP_REASONS],
        by_region_tier=summary.by_region_tier,
        by_province=sorted(provinces, key=lambda g: (-g.users, g.group)),
        by_security_grade=summary.by_security_grade,
        by_version_band=summary.by_version_band,
    )
