"""AU-PR-01: equally qualified applicants (same score band and dimensions) priced
differently across channels, from the offer log (seed: 18% against 12%)."""

from __future__ import annotations

import polars as pl

from lendguard.audit.findings import Evidence, Finding, finding, pct
from lendguard.audit.target import AuditTarget

RULES = ("AU-PR-01",)
PARTS = ("offers",)


def check(target: AuditTarget, policy) -> list[Finding]:
    limits, file = policy.audit.pricing, target.source("offers")
    group = ["score_band", "dimensions"]
    by_channel = (
        target.offers.with_columns(pl.col("dimensions").fill_null(""))
        .group_by([*group, "channel"])
        .agg(pl.col("apr").mean().alias("apr"), pl.len().alias("offers"))
        .filter(pl.col("offers") >= limits.min_offers_per_channel)
    )
    spread = (
        by_channel.sort("apr")
        .group_by(group, maintain_order=True)
        .agg(pl.col("channel").first().alias("cheap"), pl.col("apr").first().alias("low"), pl.col("channel").last().alias("dear"), pl.col("apr").last().alias("high"))
        .filter(pl.col("high") - pl.col("low") > limits.max_apr_gap)
        .sort(group)
    )
    found = []
    for row in spread.iter_rows(named=True):
        who = f"score band {row['score_band']}, dimensions {row['dimensions'] or '-'}"
        found.append(finding(
            "AU-PR-01", Evidence(file=file, location=who, quote=f"{row['dear']} {pct(row['high'])} vs {row['cheap']} {pct(row['low'])}"),
            f"同等资质（评分段{row['score_band']}，维度{row['dimensions'] or '-'}）：渠道{row['dear']}平均年化{pct(row['high'])}，渠道{row['cheap']}为{pct(row['low'])}。",
            f"Equally qualified applicants ({who}) pay {pct(row['high'])} through {row['dear']} but {pct(row['low'])} through {row['cheap']}.",
        ))
    return found
