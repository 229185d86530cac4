"""The validation report as one self-contained HTML page (plotly.js embedded): how each
model ranks on every split, calibration by score band, the score distribution, the IV
table, the swap set against the previous model and the scorecard itself. Built from the
same dict that is written as validation.json, so the two never disagree."""

from __future__ import annotations

from pathlib import Path

import plotly.graph_objects as go
import polars as pl
from jinja2 import Environment
from markupsafe import Markup
from plotly.offline import get_plotlyjs

from lendguard.report.html import (
    FAIL_COLOR,
    NEUTRAL_COLOR,
    PAGE_HEAD,
    PASS_COLOR,
    _div,
    _layout,
)

SPLIT_TITLES = {"train": "train", "test": "test", "out_of_time": "out of time"}


def calibration_figure(rows: list[dict], split: str) -> go.Figure:
    bands = [r["band"] for r in rows]
    fig = go.Figure([
        go.Bar(x=bands, y=[r["observed_event_rate"] for r in rows], name="observed", marker_color=NEUTRAL_COLOR),
        go.Scatter(x=bands, y=[r["predicted_event_rate"] for r in rows], name="predicted", mode="lines+markers", line={"color": FAIL_COLOR}),
    ])
    return _layout(fig, f"Calibration, {SPLIT_TITLES[split]} split: event rate by score band (预测与实际违约率)", "score band", "event rate", yaxis_tickformat=".0%")


def distribution_figure(histogram: dict) -> go.Figure:
    edges = histogram["edges"]
    middles = [(lo + hi) / 2 for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
    fig = go.Figure([
        go.Bar(x=middles, y=histogram["good"], name="good (0)", marker_color=PASS_COLOR, opacity=0.75),
        go.Bar(x=middles, y=histogram["bad"], name="bad (1)", marker_color=FAIL_COLOR, opacity=0.75),
    ])
    return _layout(fig, "Score distribution of the training rows by outcome (评分分布)", "score", "rows", barmode="overlay")


def iv_figure(rows: list[dict]) -> go.Figure:
    shown = [r for r in rows if r["iv"] is not None][:30][::-1]
    fig = go.Figure(go.Bar(
        x=[r["iv"] for r in shown], y=[r["feature"] for r in shown], orientation="h",
        marker_color=[PASS_COLOR if r["selected"] else "#adb5bd" for r in shown],
    ))
    return _layout(fig, "Information value per feature (green: in the model)", "IV", "", height=max(380, 22 * len(shown) + 120))


def auc_figure(models: dict) -> go.Figure:
    splits = [s for s in SPLIT_TITLES if s in models["scorecard"]]
    fig = go.Figure([
        go.Bar(x=[SPLIT_TITLES[s] for s in splits], y=[models[name][s]["auc"] for s in splits], name=name, marker_color=color,
               text=["-" if models[name][s]["auc"] is None else f"{models[name][s]['auc']:.3f}" for s in splits], textposition="outside")
        for name, color in (("scorecard", NEUTRAL_COLOR), ("challenger", "#e9c46a")) if name in models
    ])
    return _layout(fig, "AUC by split: the scorecard against its challenger", "split", "AUC", yaxis_range=[0.5, 1.0])


_PAGE = PAGE_HEAD + """<div class="meta">Target <b>{{ report.target }}</b> (1 = the event) · policy <b>{{ report.policy_version }}</b> · generated {{ report.created_at }}
{% if report.time_column %} · out-of-time split by <b>{{ report.time_column }}</b>{% endif %}</div>
<div class="cards">
{% for card in cards %}<div class="card"><div class="v">{{ card[0] }}</div><div class="l">{{ card[1] }}</div></div>
{% endfor %}</div>
</header>
<main>
<h2>Discrimination: AUC, KS, Gini (区分能力)</h2>
<div class="grid"><div class="chart">{{ auc_div }}</div>
<div><table>
<tr><th>Model</th><th>Split</th><th>Rows</th><th>Event rate</th><th>AUC</th><th>KS</th><th>Gini</th></tr>
{% for r in performance %}<tr><td>{{ r.model }}</td><td>{{ r.split }}</td><td class="n">{{ "{:,}".format(r.rows) }}</td><td class="n">{{ "-" if r.event_rate is none else "{:.2%}".format(r.event_rate) }}</td>{% for v in (r.auc, r.ks, r.gini) %}<td class="n">{{ "-" if v is none else "%.4f"|format(v) }}</td>{% endfor %}</tr>
{% endfor %}</table>
<p class="meta">{{ gap_note }}</p>
{% if report.truth %}<p class="meta">Synthetic data: the true event probability of each row is known. Its own AUC, the ceiling no model can pass on these rows:
{% for split, t in report.truth.items() %}{{ split }} {{ "-" if t.auc is none else "%.4f"|format(t.auc) }}{% if not loop.last %}, {% endif %}{% endfor %}.</p>{% endif %}</div></div>
<h2>Calibration and score distribution</h2>
<div class="grid">
{% for div in calibration_divs %}<div class="chart">{{ div }}</div>
{% endfor %}<div class="chart">{{ distribution_div }}</div></div>
<h2>Features: information value and selection</h2>
<div class="grid"><div class="chart">{{ iv_div }}</div>
<div><table>
<tr><th>Feature</th><th>IV</th><th>In the model</th><th>Why not</th></tr>
{% for r in report.iv %}<tr><td>{{ r.feature }}</td><td class="n">{{ "-" if r.iv is none else "%.4f"|format(r.iv) }}</td><td>{{ "yes" if r.selected else "no" }}</td><td>{{ r.reason }}</td></tr>
{% endfor %}</table></div></div>
{% if swap %}<h2>Swap set against the previous model (换入换出分析)</h2>
<div class="meta">Both models at the cutoffs that approve {{ "{:.0%}".format(swap.approval_share) }} of the test split (new {{ swap.cutoffs.new }}, previous {{ swap.cutoffs.previous }}).
Approved event rate: new {{ "{:.2%}".format(swap.approved_event_rate.new) }}, previous {{ "{:.2%}".format(swap.approved_event_rate.previous) }}.</div>
<table>
<tr><th>Cell</th><th>Rows</th><th>Events</th><th>Event rate</th></tr>
{% for name, label in swap_cells %}<tr><td>{{ label }}</td><td class="n">{{ "{:,}".format(swap[name].rows) }}</td><td class="n">{{ "{:,}".format(swap[name].events) }}</td><td class="n">{{ "-" if swap[name].event_rate is none else "{:.2%}".format(swap[name].event_rate) }}</td></tr>
{% endfor %}</table>{% endif %}
<h2>The scorecard (评分卡)</h2>
<table>
<tr><th>Feature</th><th>Bin</th><th>Rows</th><th>Event rate</th><th>WoE</th><th>Points</th></tr>
{% for r in table %}<tr><td>{{ r.feature }}</td><td>{{ r.bin }}</td><td class="n">{{ "{:,}".format(r.rows) }}</td><td class="n">{{ "-" if r.event_rate is none else "{:.2%}".format(r.event_rate) }}</td><td class="n">{{ "%.4f"|format(r.woe) }}</td><td class="n">{{ "%.1f"|format(r.points) }}</td></tr>
{% endfor %}</table>
</main>
</body>
</html>
"""


def _short(value: float | None) -> str:
    """A measure on a card: 3 decimals, or '-' where a split lacks one of the outcomes."""
    return "-" if value is None else f"{value:.3f}"


def render_validation(report: dict, table: pl.DataFrame, title: str = "lendguard scorecard validation") -> str:
    models = report["models"]
    performance = [
        {"model": name, "split": SPLIT_TITLES[split], **models[name][split]}
        for name in ("scorecard", "challenger") if name in models for split in SPLIT_TITLES if split in models[name]
    ]
    test = models["scorecard"]["test"]
    cards = [(_short(test["auc"]), "scorecard test AUC"), (_short(test["ks"]), "scorecard test KS"), (str(models["scorecard"]["features"]), "features in the model")]
    gap_note = ""
    if "challenger" in models:
        cards.append((_short(models["challenger"]["test"]["auc"]), "challenger (LightGBM) test AUC"))
        gap = report["gap"]["test"]
        if gap is not None:
            gap_note = (f"The scorecard's test AUC is {abs(gap):.4f} {'below' if gap < 0 else 'above'} the challenger's: "
                        + ("what it gives up for being a table a person can read." if gap < 0 else "the readable model loses nothing here."))
    if "out_of_time" in models["scorecard"]:
        cards.append((_short(models["scorecard"]["out_of_time"]["auc"]), "scorecard out-of-time AUC"))
    page = Environment(autoescape=True).from_string(_PAGE).render(
        title=title, report=report, cards=cards, performance=performance, gap_note=gap_note,
        plotly_js=Markup(get_plotlyjs()), auc_div=_div(auc_figure(models), "auc"),
        calibration_divs=[_div(calibration_figure(rows, split), f"calibration-{split}") for split, rows in report["calibration"].items() if split != "train"],
        distribution_div=_div(distribution_figure(report["distribution"]), "distribution"), iv_div=_div(iv_figure(report["iv"]), "iv"),
        swap=report.get("swap_set"), swap_cells=[("both", "approved by both"), ("swap_in", "swap-in: new model only"), ("swap_out", "swap-out: previous model only"), ("neither", "declined by both")],
        table=table.to_dicts(),
    )
    return page


def write_validation(report: dict, table: pl.DataFrame, out: Path) -> Path:
    path = Path(out) / "validation.html"
    path.write_text(render_validation(report, table), encoding="utf-8")
    return path
