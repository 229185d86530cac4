"""The audit report: JSON (the machine's), HTML (a person's, with a chart) and the
terminal table, all from one `AuditReport`."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import plotly.graph_objects as go
from jinja2 import Environment
from markupsafe import Markup
from plotly.offline import get_plotlyjs
from rich.console import Console
from rich.table import Table

from lendguard.audit.engine import AuditReport
from lendguard.audit.findings import SEVERITY_ORDER
from lendguard.report.html import PAGE_HEAD

SEVERITY_COLORS = {"critical": "#b00020", "high": "#e76f51", "medium": "#e9c46a", "low": "#8ab17d"}
_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "green"}

_PAGE = PAGE_HEAD + """<div class="meta">Target <b>{{ r.target }}</b> ({{ r.kind }}) · policy <b>{{ r.policy_version }}</b> · generated {{ generated }}
· parts read: {{ r.parts | join(", ") or "none" }}</div>
<div class="cards">{% for s in severities %}<div class="card"><div class="v">{{ r.counts[s] }}</div><div class="l">{{ s }}</div></div>{% endfor %}</div>
</header>
{% if chart %}<div class="chart">{{ chart }}</div>{% endif %}
{% if not r.findings %}<h2>No violation found / 未发现违规</h2>{% endif %}
{% for f in r.findings %}
<section class="finding">
<h3><span style="color:{{ colors[f.severity] }}">[{{ f.severity }}]</span> {{ f.rule }} · {{ f.title.zh }} / {{ f.title.en }}</h3>
<p>{{ f.message.zh }}<br>{{ f.message.en }}</p>
<p><b>Evidence / 证据</b>: <code>{{ f.evidence.file }}</code>{% if f.evidence.location %} · {{ f.evidence.location }}{% endif %}
{% if f.evidence.quote %}<br><q>{{ f.evidence.quote }}</q>{% endif %}</p>
<p><b>Legal basis / 法律依据</b>: {{ f.legal_basis.zh }}<br>{{ f.legal_basis.en }}</p>
<p><b>Fix / 整改</b>: {{ f.fix.zh }}<br>{{ f.fix.en }}</p>
</section>
{% endfor %}
{% if r.not_checked %}<h2>Not checked / 未检查</h2><table><tr><th>rules</th><th>missing part</th></tr>
{% for n in r.not_checked %}<tr><td>{{ n.rules | join(", ") }}</td><td>{{ n.missing | join(", ") }}</td></tr>{% endfor %}</table>{% endif %}
</body></html>
"""


def _chart(report: AuditReport) -> Markup | None:
    if not report.findings:
        return None
    rules = sorted({f.rule for f in report.findings})
    fig = go.Figure([
        go.Bar(x=rules, y=[sum(1 for f in report.findings if f.rule == rule and f.severity == s) for rule in rules], name=s, marker_color=SEVERITY_COLORS[s])
        for s in SEVERITY_ORDER if report.counts[s]
    ])
    fig.update_layout(barmode="stack", title="Findings by rule and severity", height=320, margin=dict(l=40, r=20, t=50, b=40))
    return Markup(fig.to_html(full_html=False, include_plotlyjs=False, div_id="findings"))


def render_html(report: AuditReport) -> str:
    return Environment(autoescape=True).from_string(_PAGE).render(
        title=f"Compliance audit: {report.target}", r=report, severities=SEVERITY_ORDER, colors=SEVERITY_COLORS,
        generated=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), chart=_chart(report), plotly_js=Markup(get_plotlyjs()),
    )


def write_report(report: AuditReport, out: Path) -> dict[str, Path]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "audit.json", "html": out / "audit.html"}
    paths["json"].write_text(json.dumps(report.model_dump(mode="json"), ensure_ascii=False, indent=2), encoding="utf-8")
    paths["html"].write_text(render_html(report), encoding="utf-8")
    return paths


def print_report(report: AuditReport, console: Console, lang: str = "en") -> None:
    counts = ", ".join(f"{report.counts[s]} {s}" for s in SEVERITY_ORDER if report.counts[s]) or "no violation found"
    console.print(f"[bold]{report.target}[/] ({report.kind}): {len(report.findings)} finding(s): {counts}")
    if report.findings:
        table = Table(show_lines=False)
        for column in ("severity", "rule", "evidence", "finding"):
            table.add_column(column, overflow="fold")
        for f in report.findings:
            where = f.evidence.file + (f" · {f.evidence.location}" if f.evidence.location else "")
            table.add_row(f"[{_STYLE[f.severity]}]{f.severity}[/]", f.rule, where, getattr(f.message, lang))
        console.print(table)
    for n in report.not_checked:
        console.print(f"[dim]not checked: {', '.join(n.rules)} (no {', '.join(n.missing)})[/]")
