"""The readable terminal view of one user's decision (what `lendguard explain` prints)."""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

STATUS_STYLE = {"pass": "green", "warn": "yellow", "fail": "bold red", "not_assessable": "magenta"}
STATUS_LABEL = {"pass": "PASS", "warn": "WARN", "fail": "FAIL", "not_assessable": "N/A"}


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, list):
        shown = ", ".join(_value(v) for v in value[:3]) or "-"
        return shown + (f", ... ({len(value)} in all)" if len(value) > 3 else "")
    if isinstance(value, dict):
        return " ".join(f"{k}={_value(v)}" for k, v in value.items())
    return "-" if value is None else str(value)


def _pairs(values: dict[str, Any] | None) -> str:
    if not values:
        return "-"
    return "\n".join(f"{k} = {_value(v)}" for k, v in values.items())


def render_decision(decision: dict[str, Any], console: Console) -> None:
    verdict = Text("VISIBLE" if decision["visible"] else "HIDDEN", style="bold green" if decision["visible"] else "bold red")
    header = Text.assemble(
        ("user ", "dim"), (decision["user_id"], "bold"), ("   entry: ", "dim"), verdict,
        ("   as of ", "dim"), decision["as_of"],
        ("   policy ", "dim"), f"{decision['policy_version']} ({decision['policy_sha256'][:12]})",
    )
    console.print(header)
    console.print(decision["summary"]["en"])
    console.print(decision["summary"]["zh"])
    if decision.get("reason_codes"):
        console.print(Text("reason codes: " + " ".join(decision["reason_codes"]), style="dim"))
    for dimension in decision["dimensions"]:
        table = Table(show_header=True, header_style="bold", expand=True, box=None, padding=(0, 1))
        table.add_column("check", width=26)
        table.add_column("status", no_wrap=True, width=6)
        table.add_column("measured", width=30)
        table.add_column("threshold", width=28)
        table.add_column("why / what to do", overflow="fold")
        for check in dimension["checks"]:
            status = check["status"]
            lines = [check["reason"]["en"], check["reason"]["zh"]]
            advice = check.get("advice")
            if advice:
                prefix = "-> " if advice["fixable"] else "note: "
                lines += [prefix + advice["text"]["en"], prefix + advice["text"]["zh"]]
            title = check.get("title") or {"en": check["name"]}
            table.add_row(
                f"{check['code']} {title['en']}",
                Text(STATUS_LABEL[status], style=STATUS_STYLE[status]),
                _pairs(check["measured"]),
                _pairs(check.get("thresholds")),
                "\n".join(lines),
            )
        status = dimension["status"]
        title = Text.assemble(
            f"{dimension['title']['en']} ({dimension['title']['zh']})  ",
            (STATUS_LABEL[status], STATUS_STYLE[status]),
        )
        console.print(Panel(Group(table), title=title, title_align="left", border_style=STATUS_STYLE[status]))
