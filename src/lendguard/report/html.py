"""Write a population summary as one self-contained HTML page of Plotly charts (plotly.js embedded once)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from zoneinfo import ZoneInfo

import plotly.graph_objects as go
import polars as pl
from jinja2 import Environment
from markupsafe import Markup
from plotly.offline import get_plotlyjs

from lendguard.features.window import AsOf
from lendguard.policy import Policy
from lendguard.report.summary import (
    UNKNOWN_VERSION,
    VERSION_BAND,
    CategoryBreakdown,
    GroupShare,
    Histogram,
    PopulationSummary,
    band_labels,
    band_minimums,
    distribution_specs,
    distributions,
    group_shares,
    with_version_band,
)
from lendguard.visibility.check import DIMENSIONS

PASS_COLOR = "#2a9d8f"
FAIL_COLOR = "#e76f51"
NA_COLOR = "#f4a261"
NEUTRAL_COLOR = "#457b9d"
CHART_HEIGHT = 380
TOP_REASONS = 15
PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}


def _pct(share: float | None) -> str:
    return "-" if share is None else f"{share:.1%}"


def _num(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:g}"


def _dimension_label(summary: PopulationSummary, dimension: str) -> str:
    en, zh = summary.dimension_titles().get(dimension, (dimension, dimension))
    return f"{en} ({zh})"


def _layout(fig: go.Figure, title: str, x_title: str = "", y_title: str = "", **extra) -> go.Figure:
    layout = {
        "title": {"text": title, "x": 0.01, "font": {"size": 15}},
        "xaxis_title": x_title,
        "yaxis_title": y_title,
        "template": "plotly_white",
        "height": CHART_HEIGHT,
        "margin": {"l": 60, "r": 20, "t": 70, "b": 60},
        "bargap": 0.05,
    }
    fig.update_layout(**(layout | extra))
    return fig


# --- figures -------------------------------------------------------------------------------


def funnel_figure(summary: PopulationSummary) -> go.Figure:
    labels = [f"{s.step}. {s.title_en} ({s.title_zh})" for s in summary.funnel]
    fig = go.Figure(
        go.Funnel(
            y=[f"All users ({summary.users:,})"] + labels,
            x=[summary.users] + [s.remaining for s in summary.funnel],
            textinfo="value+percent initial",
            marker={"color": NEUTRAL_COLOR},
        )
    )
    return _layout(fig, "Funnel: users passing dimensions 1..n (pass or warn)", height=460, margin={"l": 300, "r": 20, "t": 60, "b": 40})


def failures_figure(summary: PopulationSummary) -> go.Figure:
    labels = [f"{d.title_en} ({d.title_zh})" for d in summary.dimensions]
    fig = go.Figure(
        [
            go.Bar(name="fail", x=labels, y=[d.fail for d in summary.dimensions], marker_color=FAIL_COLOR),
            go.Bar(name="not assessable", x=labels, y=[d.not_assessable for d in summary.dimensions], marker_color=NA_COLOR),
        ]
    )
    fig.update_traces(hovertemplate="%{x}<br>%{fullData.name}: %{y:,} users<extra></extra>")
    shares = [f"{_pct(d.failing_share)}" for d in summary.dimensions]
    fig.add_trace(
        go.Scatter(x=labels, y=[d.failing for d in summary.dimensions], text=shares, mode="text",
                   textposition="top center", showlegend=False, hoverinfo="skip")
    )
    return _layout(fig, "Users failing each dimension (fail or not assessable)", y_title="Users", barmode="stack",
                   height=440, margin={"l": 60, "r": 20, "t": 60, "b": 140})


def share_figure(title: str, x_title: str, groups: Sequence[GroupShare]) -> go.Figure:
    fig = go.Figure(
        go.Bar(
            x=[g.group for g in groups],
            y=[g.visible_share or 0.0 for g in groups],
            text=[f"{_pct(g.visible_share)}<br>n={g.users:,}" for g in groups],
            textposition="outside",
            marker_color=PASS_COLOR,
            customdata=[[g.users, g.visible] for g in groups],
            hovertemplate="%{x}<br>visible %{y:.1%} (%{customdata[1]:,} of %{customdata[0]:,})<extra></extra>",
        )
    )
    fig.update_yaxes(tickformat=".0%", range=[0, 1.15])
    return _layout(fig, title, x_title, "Visible share")


def reasons_figure(summary: PopulationSummary, top: int = TOP_REASONS) -> go.Figure:
    reasons = list(summary.top_reasons[:top])[::-1]
    fig = go.Figure(
        go.Bar(
            y=[f"{r.code} {r.title_en} ({r.title_zh})" for r in reasons],
            x=[r.count for r in reasons],
            orientation="h",
            text=[_pct(r.share) for r in reasons],
            textposition="outside",
            marker_color=FAIL_COLOR,
            hovertemplate="%{y}<br>%{x:,} users<extra></extra>",
        )
    )
    return _layout(fig, f"Top {len(reasons)} reason codes (users blocked by each check)", "Users",
                   height=max(CHART_HEIGHT, 28 * len(reasons) + 120), margin={"l": 330, "r": 40, "t": 60, "b": 50})


def histogram_figure(summary: PopulationSummary, h: Histogram) -> go.Figure:
    edges = h.bin_edges
    width = edges[1] - edges[0]
    centers = [(a + b) / 2 for a, b in zip(edges[:-1], edges[1:], strict=True)]
    failing = [(c < h.boundary) if h.kind == "min" else (c > h.boundary) for c in centers]
    right = "]" if h.kind == "max" and not h.integer else ")"
    left = "(" if h.kind == "max" and not h.integer else "["
    if h.integer and width == 1:
        ranges = [_num(c) for c in centers]
    else:
        ranges = [f"{left}{a:g}, {b:g}{right}" for a, b in zip(edges[:-1], edges[1:], strict=True)]
    fig = go.Figure(
        go.Bar(
            x=centers,
            y=list(h.counts),
            width=[width] * len(centers),
            marker_color=[FAIL_COLOR if f else PASS_COLOR for f in failing],
            customdata=ranges,
            hovertemplate="%{customdata}: %{y:,} users<extra></extra>",
        )
    )
    side = "below the minimum" if h.kind == "min" else "above the maximum"
    notes = [f"{h.failing_side:,} {side}"]
    if h.clipped_above:
        notes.append(f"{h.clipped_above:,} beyond {edges[-1]:g} in the last bar")
    if h.missing:
        notes.append(f"{h.missing:,} without a value (not shown)")
    fig.add_vline(
        x=h.boundary, line_dash="dash", line_color="#222",
        annotation_text=f"{h.kind} {h.threshold:g} ({h.threshold_name})", annotation_position="top",
    )
    title = f"{_dimension_label(summary, h.dimension)}: {h.label}<br><sup>{' · '.join(notes)}</sup>"
    return _layout(fig, title, h.label, "Users", showlegend=False)


def category_figure(summary: PopulationSummary, c: CategoryBreakdown) -> go.Figure:
    title = f"{_dimension_label(summary, c.dimension)}: {c.label}"
    groups = [g.group for g in c.groups]
    if c.chart == "share":
        return share_figure(f"{title}, visible share", c.label, c.groups)
    if c.chart == "count":
        fig = go.Figure(
            go.Bar(x=groups, y=[g.users for g in c.groups], text=[f"{g.users:,}" for g in c.groups],
                   textposition="outside", marker_color=NEUTRAL_COLOR,
                   hovertemplate="%{x}: %{y:,} users<extra></extra>")
        )
        return _layout(fig, f"{title}, users", c.label, "Users")
    fig = go.Figure(
        [
            go.Bar(name="visible", x=groups, y=[g.visible for g in c.groups], marker_color=PASS_COLOR),
            go.Bar(name="hidden", x=groups, y=[g.users - g.visible for g in c.groups], marker_color=FAIL_COLOR),
        ]
    )
    fig.update_traces(hovertemplate="%{x}<br>%{fullData.name}: %{y:,} users<extra></extra>")
    return _layout(fig, f"{title}, visible and hidden users", c.label, "Users", barmode="stack")


# --- page ----------------------------------------------------------------------------------


def _div(fig: go.Figure, div_id: str) -> Markup:
    return Markup(fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id, config=PLOTLY_CONFIG, default_width="100%"))


def chart_ids(summary: PopulationSummary) -> list[str]:
    """The ids of the chart divs the page holds, in page order."""
    ids = ["chart-funnel", "chart-failures"]
    ids += [i for i, groups in (("chart-region-tier", summary.by_region_tier), ("chart-security-grade", summary.by_security_grade),
                                ("chart-version-band", summary.by_version_band)) if groups]
    ids.append("chart-reasons")
    ids += [f"chart-dist-{d.dimension}-{d.column}" for d in summary.distributions]
    return ids


def _complete(summary: PopulationSummary, decisions: pl.DataFrame, policy: Policy | None) -> PopulationSummary:
    """Fill in the policy-dependent parts (version bands, distributions) when `summary` was made without them."""
    if policy is None:
        return summary
    bands = band_minimums(policy)
    if not summary.by_version_band and "client_version" in decisions.columns:
        banded = with_version_band(decisions.select("visible", "client_version"), bands)
        summary = replace(summary, by_version_band=group_shares(banded, VERSION_BAND, band_labels(bands), UNKNOWN_VERSION))
    if not summary.distributions:
        summary = replace(summary, distributions=distributions(decisions, distribution_specs(policy), bands))
    return summary


STYLE = """<style>
 body { font-family: -apple-system, "Segoe UI", "PingFang SC", "Microsoft YaHei", sans-serif; margin: 0; color: #1d3557; background: #f6f7f9; }
 header, main { max-width: 1280px; margin: 0 auto; padding: 12px 24px; }
 h1 { font-size: 24px; margin: 12px 0 4px; }
 h2 { font-size: 19px; margin: 28px 0 8px; border-bottom: 2px solid #d9dee5; padding-bottom: 4px; }
 h3 { font-size: 16px; margin: 18px 0 6px; }
 .meta { font-size: 13px; color: #555; }
 .meta code { font-size: 12px; }
 .synthetic { background: #fff3cd; border: 1px solid #e0c36a; padding: 8px 12px; border-radius: 6px; margin: 10px 0; }
 .cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 12px 0; }
 .card { background: #fff; border-radius: 8px; padding: 12px 18px; box-shadow: 0 1px 3px rgba(0,0,0,.08); min-width: 160px; }
 .card .v { font-size: 26px; font-weight: 600; }
 .card .l { font-size: 12px; color: #666; }
 .grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(560px, 1fr)); gap: 14px; }
 .chart { min-width: 0; overflow: hidden; }
 .chart { background: #fff; border-radius: 8px; padding: 6px; box-shadow: 0 1px 3px rgba(0,0,0,.08); }
 table { border-collapse: collapse; background: #fff; font-size: 13px; }
 th, td { padding: 4px 10px; border-bottom: 1px solid #e5e8ec; text-align: left; }
 td.n { text-align: right; font-variant-numeric: tabular-nums; }
</style>
"""  # shared by every lendguard HTML page

PAGE_HEAD = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{ title }}</title>
""" + STYLE + """<script type="text/javascript">{{ plotly_js }}</script>
</head>
<body>
<header>
<h1>{{ title }}</h1>
"""  # every lendguard HTML page starts so (title, plotly_js)

_PAGE = PAGE_HEAD + """<div class="meta">
 Policy <b>{{ policy_version }}</b> · sha256 <code>{{ policy_sha256 }}</code><br>
 As of <b>{{ as_of }}</b>{% if as_of_local %} ({{ as_of_local }}){% endif %} · generated {{ generated }}
</div>
{% if synthetic %}<div class="synthetic"><b>Synthetic data.</b> These users were generated by lendguard's population
generator; the numbers illustrate the policy, they describe no real person.</div>{% endif %}
<div class="cards">
{% for card in cards %}<div class="card"><div class="v">{{ card[0] }}</div><div class="l">{{ card[1] }}</div></div>
{% endfor %}</div>
</header>
<main>
<h2>Overview</h2>
<div class="grid">
{% for div in overview %}<div class="chart">{{ div }}</div>
{% endfor %}</div>
<h2>Top reason codes</h2>
<div class="grid"><div class="chart">{{ reasons_div }}</div>
<div><table>
<tr><th>Code</th><th>Check</th><th>检查项</th><th>Dimension</th><th>Users</th><th>Share</th></tr>
{% for r in reasons %}<tr><td><b>{{ r.code }}</b></td><td>{{ r.title_en }}</td><td>{{ r.title_zh }}</td><td>{{ r.dimension or "-" }}</td><td class="n">{{ "{:,}".format(r.count) }}</td><td class="n">{{ "{:.1%}".format(r.share) }}</td></tr>
{% endfor %}</table></div></div>
<h2>Dimensions: metrics against their policy thresholds</h2>
{% for section in sections %}<h3>{{ section.heading }}</h3>
<div class="meta">{{ section.note }}</div>
<div class="grid">
{% for div in section.divs %}<div class="chart">{{ div }}</div>
{% endfor %}</div>
{% endfor %}
{% if fraud %}<h2>Anti-fraud: rings and detection</h2>
<div class="meta">{{ fraud.note }}</div>
{% if fraud.rings_div %}<div class="chart">{{ fraud.rings_div }}</div>{% endif %}
{% if fraud.rules %}<table>
<tr><th>Detector</th><th>Planted pattern</th><th>Users raised</th><th>Precision</th><th>Planted</th><th>Recall</th></tr>
{% for r in fraud.rules %}<tr><td><b>{{ r.rule_id }}</b></td><td>{{ r.target_pattern or "-" }}</td><td class="n">{{ "{:,}".format(r.users_raised) }}</td><td class="n">{{ "-" if r.precision is none else "{:.1%}".format(r.precision) }}</td><td class="n">{{ "{:,}".format(r.planted) }}</td><td class="n">{{ "-" if r.recall is none else "{:.1%}".format(r.recall) }}</td></tr>
{% endfor %}</table>{% endif %}
{% endif %}
{% if loans %}<h2>Loan book: balances, delinquency and the ledger</h2>
<div class="meta">{{ loans.note }}</div>
<div class="cards">
{% for card in loans.cards %}<div class="card"><div class="v">{{ card[0] }}</div><div class="l">{{ card[1] }}</div></div>
{% endfor %}</div>
<div class="grid"><div class="chart">{{ loans.buckets_div }}</div>
<div><table>
<tr><th>Status</th><th>Bucket</th><th>Loans</th><th>Principal</th><th>Outstanding</th><th>Interest due</th><th>Penalty due</th><th>Fees due</th></tr>
{% for r in loans.rows %}<tr><td>{{ r.status }}</td><td>{{ r.bucket }}</td><td class="n">{{ "{:,}".format(r.loans) }}</td><td class="n">{{ "{:,}".format(r.principal) }}</td><td class="n">{{ "{:,}".format(r.principal_outstanding) }}</td><td class="n">{{ "{:,}".format(r.interest_receivable) }}</td><td class="n">{{ "{:,}".format(r.penalty_receivable) }}</td><td class="n">{{ "{:,}".format(r.fee_receivable) }}</td></tr>
{% endfor %}</table>
<h3>Trial balance (debit +)</h3>
<table>
{% for account, balance in loans.balances %}<tr><td>{{ account }}</td><td class="n">{{ "{:,}".format(balance) }}</td></tr>
{% endfor %}</table>
{% if loans.year %}<h3>The simulated year, {{ loans.year.start }} to {{ loans.year.end }}</h3>
<table>
<tr><th>Behaviour</th><th>Status at the end</th><th>Loans</th><th>Principal</th><th>Worst bucket reached</th></tr>
{% for r in loans.year.outcomes %}<tr><td>{{ r.behaviour }}</td><td>{{ r.status }}</td><td class="n">{{ "{:,}".format(r.loans) }}</td><td class="n">{{ r.principal }}</td><td>{{ r.worst_bucket }}</td></tr>
{% endfor %}</table>{% endif %}
</div></div>
{% endif %}</main>
</body>
</html>
"""


def render_html(
    summary: PopulationSummary,
    policy: Policy | None = None,
    as_of: AsOf | None = None,
    *,
    synthetic: bool = False,
    title: str = "lendguard: loan-entry visibility report",
    rings: Sequence | None = None,
    detection: dict | None = None,
    loan_book: dict | None = None,
) -> str:
    """The report page as a string (plotly.js embedded once in the head).

    `rings` (the graph job's, largest first) are drawn; `detection` (precision and recall
    on planted fraud, `fraud.evaluation`) is tabled; `loan_book` (`loans.portfolio.book_snapshot`,
    with the simulated `year` when there is one) gets its own section."""
    ids = iter(chart_ids(summary))
    overview = [_div(funnel_figure(summary), next(ids)), _div(failures_figure(summary), next(ids))]
    for groups, name, label in (
        (summary.by_region_tier, "region tier", "Region tier"),
        (summary.by_security_grade, "device security grade", "Security grade"),
        (summary.by_version_band, "client-version band", "Client version band"),
    ):
        if groups:
            overview.append(_div(share_figure(f"Visible share per {name}", label, groups), next(ids)))
    reasons_div = _div(reasons_figure(summary), next(ids))
    sections = []
    failing = {d.dimension: d for d in summary.dimensions}
    for index, dimension in enumerate(DIMENSIONS, start=1):
        items = [d for d in summary.distributions if d.dimension == dimension]
        divs = []
        for item in items:
            fig = histogram_figure(summary, item) if isinstance(item, Histogram) else category_figure(summary, item)
            divs.append(_div(fig, next(ids)))
        d = failing.get(dimension)
        note = (
            f"{d.failing:,} users failing ({_pct(d.failing_share)}): {d.fail:,} fail, {d.not_assessable:,} not assessable, "
            f"{d.warn:,} warned; {d.sole_blocker:,} hidden by this dimension alone." if d else ""
        )
        if divs or d:
            sections.append({"heading": f"{index}. {_dimension_label(summary, dimension)}", "note": note, "divs": divs})
    worst = max(summary.dimensions, key=lambda d: d.failing, default=None)
    cards = [
        (f"{summary.users:,}", "users evaluated"),
        (f"{summary.visible:,}", "see the loan entry"),
        (_pct(summary.visible_share), "visible share"),
    ]
    if worst is not None:
        cards.append((_pct(worst.failing_share), f"fail {worst.title_en} ({worst.title_zh}), the largest blocker"))
    env = Environment(autoescape=True)
    return env.from_string(_PAGE).render(
        title=title,
        plotly_js=Markup(get_plotlyjs()),
        policy_version=policy.version if policy else "-",
        policy_sha256=policy.sha256 if policy else "-",
        as_of=as_of.at.isoformat() if as_of else "-",
        as_of_local=f"{as_of.at.astimezone(ZoneInfo(as_of.timezone)).isoformat()} {as_of.timezone}" if as_of else "",
        generated=dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
        synthetic=synthetic,
        cards=cards,
        overview=overview,
        reasons_div=reasons_div,
        reasons=summary.top_reasons[:TOP_REASONS],
        sections=sections,
        fraud=_fraud_section(rings, detection),
        loans=_loan_section(loan_book),
    )


def _fraud_section(rings: Sequence | None, detection: dict | None) -> dict | None:
    if not rings and not detection:
        return None
    from lendguard.report.fraud_rings import rings_figure

    note = f"{len(rings or []):,} rings found by the graph job; the largest are drawn (flagged members in red)." if rings else "No rings found."
    if detection and detection.get("users_raised"):
        share = detection["false_positive_share"]
        note += (
            f" {detection['users_raised']:,} users raised above R0, {detection['false_positives']:,} of them without a fraud label"
            + (f" ({share:.1%} false positives; seed 003 cites about 6.3%)." if share is not None else ".")
        )
    return {
        "note": note,
        "rings_div": _div(rings_figure(list(rings), top=3), "chart-fraud-rings") if rings else None,
        "rules": (detection or {}).get("rules", []),
    }


def buckets_figure(rows: Sequence[dict]) -> go.Figure:
    """Outstanding principal of active loans by delinquency bucket."""
    active = [r for r in rows if r["status"] == "active"]
    fig = go.Figure(go.Bar(
        x=[r["bucket"] for r in active], y=[float(r["principal_outstanding"]) for r in active],
        text=[f"{r['loans']:,} loans" for r in active], marker_color=["#2e7d32" if r["bucket"] == "current" else "#c62828" for r in active],
    ))
    return _layout(fig, "Outstanding principal by delinquency bucket (active loans)", "Bucket", "Principal")


def _loan_section(book: dict | None) -> dict | None:
    if not book:
        return None
    t = book["totals"]
    problems = book["problems"]
    note = (
        "Read from the ledger's journal. " + ("Every entry balances and every invariant holds." if not problems else f"BROKEN: {'; '.join(problems)}")
        + (" The loans come from a simulated year on SYNTHETIC users." if book.get("year") else "")
    )
    return {
        "note": note,
        "cards": [
            (f"{t['loans']:,}", "loans"),
            (f"{t['disbursed']:,.0f}", "disbursed"),
            (f"{t['principal_outstanding']:,.0f}", f"outstanding principal, {t['active_loans']:,} active loans"),
            (_pct(float(t["overdue_share"])), "of it overdue (M1+)"),
            (f"{t['interest_income'] + t['penalty_income'] + t['fee_income']:,.0f}", "interest, penalty and fee income"),
            (f"{t['credit_losses']:,.0f}", "credit losses (written off)"),
        ],
        "rows": book["by_status"],
        "balances": list(book["balances"].items()),
        "buckets_div": _div(buckets_figure(book["by_status"]), "chart-loan-buckets"),
        "year": book.get("year"),
    }


def write_html_report(
    result_or_decisions,
    summary: PopulationSummary,
    path: str | Path,
    policy: Policy | None = None,
    as_of: AsOf | None = None,
    *,
    synthetic: bool = False,
    rings: Sequence | None = None,
    detection: dict | None = None,
    loan_book: dict | None = None,
) -> Path:
    """Write the report to `path`; `result_or_decisions` is a PopulationResult or its decisions frame.

    Policy and as-of default to the result's. Version bands and metric distributions the
    summary lacks are computed from the decisions under `policy`.
    """
    decisions = result_or_decisions if isinstance(result_or_decisions, pl.DataFrame) else result_or_decisions.decisions
    policy = policy if policy is not None else getattr(result_or_decisions, "policy", None)
    as_of = as_of if as_of is not None else getattr(result_or_decisions, "as_of", None)
    summary = _complete(summary, decisions, policy)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(summary, policy, as_of, synthetic=synthetic, rings=rings, detection=detection, loan_book=loan_book), encoding="utf-8")
    return path
