"""What every `lendguard` command shares: options, the consoles, clear failures, progress bars."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from typer.core import TyperGroup

from lendguard.features.window import AsOf
from lendguard.policy import Policy, PolicyError, load_policy

console = Console()
if console.width < 100 and not console.is_terminal:
    console = Console(width=100)  # logs and pipes: wide enough for the summary tables
errors = Console(stderr=True, soft_wrap=True)

DataDir = Annotated[
    Path,
    typer.Option("--data-dir", "-d", help="Directory of the embedded stores (env LENDGUARD_DATA_DIR).", envvar="LENDGUARD_DATA_DIR"),
]
PolicyPath = Annotated[
    Optional[Path],
    typer.Option("--policy", "-p", help="Policy file (TOML); the shipped default when omitted (env LENDGUARD_POLICY).", envvar="LENDGUARD_POLICY"),
]
AsOfOption = Annotated[
    Optional[dt.datetime],
    typer.Option("--as-of", help="Evaluation time (ISO, local policy time if no zone). Default: the synthetic data's as-of, else now."),
]
DEFAULT_DATA_DIR = Path("lendguard-data")


class KnownErrorsGroup(TyperGroup):
    """The command group: errors any command may meet for want of a configured part (no
    scorecard where the policy uses the score) end in a one-line message and exit 2."""

    def invoke(self, ctx):
        from lendguard.scoring.scorecard import ScorecardError

        try:
            return super().invoke(ctx)
        except ScorecardError as exc:  # includes ScoreUnavailable
            raise _fail(str(exc)) from exc


def _fail(message: str, code: int = 2) -> typer.Exit:
    errors.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


def _policy(path: Path | None) -> Policy:
    try:
        return load_policy(path)
    except PolicyError as exc:
        raise _fail(str(exc)) from exc


def _as_of(value: dt.datetime | None, policy: Policy, data_dir: Path | None) -> AsOf:
    from lendguard.synth.generate import synthetic_as_of

    if value is None and data_dir is not None:
        value = synthetic_as_of(data_dir)
    if value is None:
        value = dt.datetime.now(dt.timezone.utc)
    return AsOf.of(value, policy)


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
