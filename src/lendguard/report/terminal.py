"""Print a population summary as Rich tables sized for a 100-column terminal."""

from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from lendguard.report.summary import GroupShare, PopulationSummary

BAR_WIDTH = 20
TOP_REASONS = 10


def bar(share: float | None, width: int = BAR_WIDTH, style: str = "cyan") -> Text:
    """A horizontal bar of `share` (0..1) in eighth-block steps."""
    share = 0.0 if share is None else min(max(share, 0.0), 1.0)
    eighths = round(share * width * 8)
    full, rest = divmod(eighths, 8)
    partial = " ▏▎▍▌▋▊▉"[rest].strip()
    return Text("█" * full + partial, style=style)


def percent(share: float | None) -> str:
    return "-" if share is None else f"{share:.1%}"


def headline(summary: PopulationSummary) -> Panel:
    text = Text()
    text.append("Loan entry visible to ", style="bold")
    text.append(f"{summary.visible:,}", style="bold green")
    text.append(f" of {summary.users:,} users ", style="bold")
    text.append(f"({percent(summary.visible_share)})", style="bold green")
    return Panel(text, title="Entry visibility", box=box.ROUNDED, expand=False)


def dimension_table(summary: PopulationSummary) -> Table:
    table = Table(
        title="Failures per dimension (fail or not assessable)",
        caption="Sole: users hidden by this dimension alone.",
        box=box.SIMPLE_HEAVY,
        title_justify="left",
        caption_justify="left",
    )
    table.add_column("Dimension", ratio=1)
    table.add_column("Failing", justify="right", no_wrap=True, min_width=8)
    table.add_column("Share", justify="right", no_wrap=True, min_width=6)
    table.add_column("", no_wrap=True, min_width=BAR_WIDTH)
    table.add_column("Sole", justify="right", no_wrap=True, min_width=6)
    for d in summary.dimensions:
        table.add_row(
            f"{d.title_en} ({d.title_zh})", f"{d.failing:,}", percent(d.failing_share),
            bar(d.failing_share, style="red"), f"{d.sole_blocker:,}",
        )
    return table


def group_table(title: str, label: str, groups: Sequence[GroupShare]) -> Table:
    table = Table(title=title, box=box.SIMPLE_HEAVY, title_justify="left")
    table.add_column(label)
    table.add_column("Users", justify="right")
    table.add_column("Visible", justify="right")
    table.add_column("", no_wrap=True, min_width=BAR_WIDTH)
    for g in groups:
        table.add_row(g.group, f"{g.users:,}", percent(g.visible_share), bar(g.visible_share, style="green"))
    return table


def reasons_table(summary: PopulationSummary, top: int = TOP_REASONS) -> Table:
    table = Table(title=f"Top {top} reason codes", box=box.SIMPLE_HEAVY, title_justify="left")
    table.add_column("Code", style="bold")
    table.add_column("Check")
    table.add_column("Dimension", style="dim")
    table.add_column("Users", justify="right")
    table.add_column("Share", justify="right")
    for r in summary.top_reasons[:top]:
        table.add_row(r.code, r.title_en, r.dimension or "-", f"{r.count:,}", percent(r.share))
    return table


def funnel_table(summary: PopulationSummary) -> Table:
    table = Table(title="Funnel: users passing dimensions 1..n (pass or warn)", box=box.SIMPLE_HEAVY, title_justify="left")
    table.add_column("#", justify="right", style="dim")
    table.add_column("+ Dimension")
    table.add_column("Remaining", justify="right")
    table.add_column("Share", justify="right")
    table.add_column("", no_wrap=True, min_width=BAR_WIDTH)
    for step in summary.funnel:
        table.add_row(
            str(step.step), f"{step.title_en} ({step.title_zh})", f"{step.remaining:,}", percent(step.share),
            bar(step.share, style="cyan"),
        )
    return table


def render_summary(summary: PopulationSummary, console: Console) -> None:
    """Print the headline, per-dimension failures, breakdowns, top reasons and the funnel."""
    console.print(headline(summary))
    console.print(dimension_table(summary))
    if summary.by_region_tier:
        console.print(group_table("Visible share per region tier", "Region tier", summary.by_region_tier))
    if summary.by_security_grade:
        console.print(group_table("Visible share per device security grade", "Grade", summary.by_security_grade))
    if summary.by_version_band:
        console.print(group_table("Visible share per client-version band", "Version band", summary.by_version_band))
    console.print(reasons_table(summary))
    console.print(funnel_table(summary))
