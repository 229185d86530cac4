"""The `lendguard` command line: generate, ingest, evaluate, explain, serve."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from lendguard.cli.common import (
    DEFAULT_DATA_DIR,
    AsOfOption,
    DataDir,
    KnownErrorsGroup,
    PolicyPath,
    _as_of,
    _fail,
    _policy,
    _progress,
    console,
    errors,
)
from lendguard.events.files import EventFileError, read_raw_events, write_events
from lendguard.events.ingest import DeadLetter, ingest, validate_batch
from lendguard.events.schema import EVENT_CLASSES, json_schema
from lendguard.features.window import AsOf
from lendguard.store.events import EventStore

app = typer.Typer(
    cls=KnownErrorsGroup,
    help="lendguard: who sees the loan entry, and why. Run `lendguard demo` for the whole job on synthetic data.",
    no_args_is_help=True,
    add_completion=False,
)
policy_app = typer.Typer(help="Check and show policy files.", no_args_is_help=True)
app.add_typer(policy_app, name="policy")

# ---- synth ---------------------------------------------------------------------------------
@app.command()
def synth(
    users: Annotated[int, typer.Option(help="How many synthetic users.", min=1)] = 100_000,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same population).")] = 7,
    as_of: AsOfOption = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    policy: PolicyPath = None,
    replace: Annotated[bool, typer.Option("--replace/--append", help="Replace the stored events, or add to them.")] = True,
    export: Annotated[Optional[Path], typer.Option(help="Also write the events to this .jsonl or .parquet file.")] = None,
    quarter: Annotated[int, typer.Option(help="0: the population; N > 0: the same users N quarters on (same traits and outcomes, behaviour drawn afresh), for `lendguard churn`.", min=0)] = 0,
) -> None:
    """Generate a SYNTHETIC population (about 90 days of behaviour) into the event store."""
    from lendguard.synth.generate import generate_population

    loaded = _policy(policy)
    moment = (as_of or dt.datetime.now(dt.timezone.utc)).replace(microsecond=0)
    if moment.tzinfo is None:
        moment = AsOf.of(moment, loaded).at
    if replace:
        from lendguard.synth.generate import reset_data_dir

        reset_data_dir(data_dir)
    store = EventStore(data_dir)
    with _progress() as progress:
        task = progress.add_task("generating synthetic users", total=users)
        summary = generate_population(store, loaded, users, moment, seed=seed, progress=lambda n: progress.advance(task, n), quarter=quarter)
    console.print(f"[green]stored[/] {summary.events:,} events of {summary.users:,} synthetic users in {data_dir} (as of {summary.as_of})")
    from lendguard.fraud.evaluation import flag_planted_seeds, load_labels

    labels = load_labels(data_dir)
    if labels is not None:
        flagged = flag_planted_seeds(store.engine, labels)
        planted = labels.filter(labels["fraud"])["user_id"].n_unique()
        console.print(f"planted fraud: {planted:,} users labelled (fraud_labels.parquet); {flagged:,} ring members put on the flagged list")
    if export is not None:
        frames = {t: store.scan(t).collect() for t in EVENT_CLASSES}
        count = write_events(frames, export)
        console.print(f"[green]exported[/] {count:,} events to {export}")


# ---- ingest --------------------------------------------------------------------------------
@app.command(name="ingest")
def ingest_command(
    events: Annotated[Path, typer.Argument(help="Events file (.jsonl or .parquet).")],
    data_dir: DataDir = DEFAULT_DATA_DIR,
    policy: PolicyPath = None,
) -> None:
    """Validate events from a file and store the valid ones; rejected ones go to the dead-letter file."""
    loaded = _policy(policy)
    store = EventStore(data_dir)
    try:
        report = ingest(read_raw_events(events), str(events), store, loaded)
    except EventFileError as exc:
        raise _fail(str(exc)) from exc
    _print_rejections(report.rejected, report.dead_letter)
    console.print(
        f"received {report.received:,}  accepted {report.accepted:,}  stored {report.stored:,}  "
        f"duplicates {len(report.duplicates):,}  rejected {len(report.rejected):,}"
    )
    if report.rejected:
        raise typer.Exit(1)


def _print_rejections(rejected, dead_letter: str | None, limit: int = 10) -> None:
    for rejection in rejected[:limit]:
        errors.print(f"[red]rejected[/] {rejection.describe()}", highlight=False)
    if len(rejected) > limit:
        errors.print(f"... and {len(rejected) - limit:,} more", highlight=False)
    if rejected and dead_letter:
        errors.print(f"rejected events kept with their reasons in {dead_letter}", highlight=False)


# ---- evaluate ------------------------------------------------------------------------------
@app.command()
def evaluate(
    events: Annotated[Optional[Path], typer.Option("--events", "-e", help="Evaluate these events (.jsonl/.parquet) instead of the store.")] = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    policy: PolicyPath = None,
    as_of: AsOfOption = None,
    out: Annotated[Optional[Path], typer.Option(help="Output directory (default: DATA_DIR/decisions).")] = None,
    jsonl: Annotated[bool, typer.Option("--jsonl/--no-jsonl", help="Also write decisions.jsonl (one compact decision per user).")] = True,
    report: Annotated[bool, typer.Option("--report/--no-report", help="Print the summary and write report.html.")] = True,
) -> None:
    """Decide loan-entry visibility for every user; writes decisions.parquet and decisions.jsonl."""
    from lendguard.visibility.service import (
        VisibilityService,
        evaluate_population,
        served_scorecard,
        write_decisions,
    )

    loaded = _policy(policy)
    out = out or data_dir / "decisions"
    with _progress() as progress:
        if events is not None:
            when = _as_of(as_of, loaded, None)
            task = progress.add_task(f"validating {events.name}", total=None)
            try:
                raw = list(read_raw_events(events))
            except EventFileError as exc:
                raise _fail(str(exc)) from exc
            progress.update(task, total=len(raw))
            frames, rejected, received = validate_batch(raw, str(events), loaded)
            progress.update(task, completed=received)
            dead = DeadLetter(out / "rejected.jsonl")
            dead.write(rejected)
            _print_rejections(rejected, str(dead.path) if rejected else None)
            step = progress.add_task("computing features and checks", total=None)
            result = evaluate_population(frames, loaded, when, scorecard=served_scorecard(loaded, data_dir))
            progress.update(step, total=1, completed=1)
        else:
            store = EventStore(data_dir)
            if store.is_empty():
                raise _fail(f"no events stored in {data_dir}; run `lendguard synth` or `lendguard ingest FILE`, or pass --events FILE")
            when = _as_of(as_of, loaded, data_dir)
            step = progress.add_task("computing features and checks", total=None)
            result = VisibilityService(store, loaded).evaluate_all(when)
            progress.update(step, total=1, completed=1)
        task = progress.add_task("writing decisions", total=result.decisions.height)
        written = write_decisions(result, out, jsonl=jsonl, progress=lambda n: progress.advance(task, n))
        if not jsonl:
            progress.update(task, completed=result.decisions.height)
    console.print(
        f"decided {result.decisions.height:,} users as of {when.at.isoformat()} under policy {loaded.version}: "
        f"features {result.seconds_features:.1f}s, checks {result.seconds_checks:.1f}s"
    )
    for kind, path in written.items():
        console.print(f"  {kind:8} {path}")
    if report:
        _report(result, out, synthetic=events is None and _is_synthetic(data_dir), data_dir=None if events else data_dir)


def _is_synthetic(data_dir: Path) -> bool:
    from lendguard.synth.generate import synthetic_as_of

    return synthetic_as_of(data_dir) is not None


def _report(result, out: Path, synthetic: bool, data_dir: Path | None = None) -> None:
    from lendguard.report.html import write_html_report
    from lendguard.report.summary import summarize_for_policy
    from lendguard.report.terminal import render_summary

    summary = summarize_for_policy(result.decisions, result.policy)
    render_summary(summary, console)
    _offer_table(result)
    rings, detection = _fraud_findings(data_dir) if data_dir is not None else (None, None)
    path = write_html_report(
        result.decisions, summary, out / "report.html", result.policy, result.as_of, synthetic=synthetic, rings=rings, detection=detection,
        loan_book=_loan_book(data_dir, result.policy) if data_dir is not None else None,
    )
    console.print(f"HTML report: {path}")


def _offer_table(result) -> None:
    """Products over the population (SPEC §2): who is admitted, at what line and price."""
    from rich.table import Table

    from lendguard.loans.population import offer_summary, population_offers

    summary = offer_summary(population_offers(result.decisions, result.policy, result.as_of.local_date))
    table = Table("product", "admitted", "share", "median line", "median daily rate", "median APR (IRR)", "max APR", "top refusal", title="Products: offers to this population")
    for row in summary.iter_rows(named=True):
        name = result.policy.loans.products[row["product_id"]].name.en
        rate = f"{row['median_daily_rate'] * 100:.3f}%" if row["median_daily_rate"] is not None else "-"
        table.add_row(
            f"{row['product_id']} {name}", f"{row['admitted']:,}", f"{row['admitted_share']:.1%}",
            f"{row['median_line']:,.0f}" if row["median_line"] is not None else "-", rate,
            f"{row['median_apr']:.2%}" if row["median_apr"] is not None else "-", f"{row['max_apr']:.2%}" if row["max_apr"] is not None else "-",
            row["top_reason"] or "-",
        )
    console.print(table)


def _loan_book(data_dir: Path, policy) -> dict | None:
    """The ledger's portfolio and the last simulated year, when the data directory has a ledger with loans."""
    from lendguard.loans.book import LoanBook
    from lendguard.loans.database import has_ledger, open_ledger
    from lendguard.loans.portfolio import book_snapshot, read_year

    if not has_ledger(data_dir):
        return None
    snapshot = book_snapshot(LoanBook(open_ledger(data_dir), policy))
    return {**snapshot, "year": read_year(data_dir)} if snapshot["totals"]["loans"] else None


def _fraud_findings(data_dir: Path):
    """The graph job's rings and, on synthetic data, detection figures on planted fraud."""
    from lendguard.fraud.evaluation import evaluate_detection, load_labels
    from lendguard.fraud.graph_job import list_rings

    engine = EventStore(data_dir).engine
    rings = [found.ring for found in list_rings(engine, limit=50)]
    labels = load_labels(data_dir)
    return rings, (evaluate_detection(engine, labels) if labels is not None else None)


# ---- demo ------------------------------------------------------------------------------------
@app.command()
def demo(
    users: Annotated[int, typer.Option(help="How many synthetic users.", min=1)] = 100_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    policy: PolicyPath = None,
) -> None:
    """The main job on embedded defaults: synthesise a population, decide it, report on it."""
    console.rule("lendguard demo (SYNTHETIC data)")
    synth(users=users, seed=seed, as_of=None, data_dir=data_dir, policy=policy, replace=True, export=None, quarter=0)
    from lendguard.cli import fraud_cmd
    from lendguard.cli.fraud_rings_cmd import rings

    console.rule("anti-fraud: the stored events replayed through the rules, then the graph job")
    fraud_cmd.run(events=None, from_store=True, days=60, data_dir=data_dir, policy=policy, name="default", as_json=False)
    rings(data_dir=data_dir, policy=policy, as_of=None, limit=3, json_out=False, run=True)
    fraud_cmd.report(data_dir=data_dir, as_json=False)
    # The scorecard comes first: a policy that decides or prices by the score needs it.
    console.rule("credit scoring: a scorecard and its challenger learned from the population's (synthetic) default outcomes")
    from lendguard.cli.score_cmd import Dataset, fit_command
    from lendguard.scoring.artifact import scorecard_location

    fit_command(out=scorecard_location(_policy(policy), data_dir), data=None, dataset=Dataset.synthetic, target=None, event=None, features=None,
                exclude=None, time_column=None, previous=None, challenger=True, seed=seed, data_dir=data_dir, policy_path=policy)
    console.rule("loans: a year of a loan book on this population's offers, on the simulated clock")
    from lendguard.cli.loans_cmd import simulate

    try:
        simulate(loans=200, seed=seed, months=12, data_dir=data_dir, policy=policy, as_of=None)
    except typer.Exit:
        console.print("[yellow]the loan year was skipped[/] (see above); the rest of the demo goes on")
    console.rule("entry visibility")
    evaluate(events=None, data_dir=data_dir, policy=policy, as_of=None, out=None, jsonl=True, report=True)
    console.rule("compliance audit of our own products (policy, contract templates, consent screens, retention)")
    from lendguard.cli.audit_cmd import audit_command

    audit_command(target=None, own=True, corpus=False, classifier=False, out=data_dir / "audit", lang="en", fail_on="low", policy=policy)
    console.print(
        "Next: [bold]lendguard explain USER_ID[/] (e.g. u00000001), [bold]lendguard offer USER_ID[/], "
        "[bold]lendguard loan statement LOAN_ID[/], [bold]lendguard audit --corpus[/], [bold]lendguard score apply --model "
        f"{data_dir / 'model'} --dataset synthetic[/] or [bold]lendguard serve[/]."
    )


# ---- churn ---------------------------------------------------------------------------------
@app.command()
def churn(
    before: Annotated[Path, typer.Argument(help="The earlier evaluation: a decisions.parquet, or a data dir evaluated with `lendguard evaluate`.")],
    after: Annotated[Path, typer.Argument(help="The later evaluation of the same users.")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Also write the report as JSON here.")] = None,
    top: Annotated[int, typer.Option(help="Reasons listed each way.")] = 8,
) -> None:
    """The quarterly re-evaluation: who gained or lost the loan entry between two evaluations, and why."""
    from rich.table import Table

    from lendguard.visibility.churn import (
        EXPECTED_FLIP_SHARE,
        ChurnError,
        read_decisions,
    )
    from lendguard.visibility.churn import churn as compare

    try:
        report = compare(read_decisions(before), read_decisions(after))
    except ChurnError as exc:
        raise _fail(str(exc)) from exc
    low, high = EXPECTED_FLIP_SHARE
    console.print(
        f"{report.users:,} users in both evaluations: visible {report.visible_before:,} → {report.visible_after:,}; "
        f"[green]gained {report.gained:,}[/], [red]lost {report.lost:,}[/]: {report.flip_share:.1%} flipped "
        f"(the seed expects {low:.0%}–{high:.0%} a quarter)"
    )
    if report.only_before or report.only_after:
        console.print(f"not compared: {report.only_before:,} users only in the earlier evaluation, {report.only_after:,} only in the later")
    for title, rows in (("lost the entry: checks that newly failed", report.lost_because), ("gained the entry: checks that newly passed", report.gained_because)):
        console.print(title)
        table = Table()
        table.add_column("check")
        table.add_column("users", justify="right")
        for code, users in rows[:top]:
            table.add_row(code, f"{users:,}")
        console.print(table)
    if out is not None:
        out.write_text(json.dumps(report.as_dict(), indent=2), encoding="utf-8")
        console.print(f"churn report: {out}")


# ---- explain -------------------------------------------------------------------------------
@app.command()
def explain(
    user_id: Annotated[str, typer.Argument(help="The user to explain.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the decision as JSON (same as the API).")] = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    policy: PolicyPath = None,
    as_of: AsOfOption = None,
) -> None:
    """Why a user does or does not see the loan entry, dimension by dimension, with advice."""
    from lendguard.cli.explain_view import render_decision
    from lendguard.visibility.service import VisibilityService

    loaded = _policy(policy)
    store = EventStore(data_dir)
    decision = VisibilityService(store, loaded).decision(user_id, _as_of(as_of, loaded, data_dir))
    if decision is None:
        raise _fail(f"no events for user {user_id!r} in {data_dir}", code=1)
    if as_json:
        sys.stdout.write(json.dumps(decision, ensure_ascii=False, indent=2) + "\n")
    else:
        render_decision(decision, Console(width=max(console.width, 140)))


# ---- schema --------------------------------------------------------------------------------
@app.command()
def schema(
    event_type: Annotated[Optional[str], typer.Option("--type", "-t", help="Only this event type.")] = None,
) -> None:
    """Print the JSON Schema of the events."""
    document = json_schema()
    if event_type is not None:
        if event_type not in EVENT_CLASSES:
            raise _fail(f"unknown event type {event_type!r}; known: {', '.join(EVENT_CLASSES)}")
        name = EVENT_CLASSES[event_type].__name__
        document = {"$schema": document["$schema"], **document["$defs"][name]}
    sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")


# ---- serve ---------------------------------------------------------------------------------
@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    policy: PolicyPath = None,
    workers: Annotated[int, typer.Option(help="Worker processes.", min=1)] = 1,
    log_level: Annotated[str, typer.Option(help="Log level of the JSON logs (env LENDGUARD_LOG_LEVEL).", envvar="LENDGUARD_LOG_LEVEL")] = "info",
    shutdown_grace: Annotated[int, typer.Option(help="Seconds requests in flight get to finish on SIGTERM.", min=1)] = 30,
    tls_cert: Annotated[Optional[Path], typer.Option(help="PEM certificate: serve HTTPS (env LENDGUARD_TLS_CERT).", envvar="LENDGUARD_TLS_CERT")] = None,
    tls_key: Annotated[Optional[Path], typer.Option(help="PEM private key of --tls-cert (env LENDGUARD_TLS_KEY).", envvar="LENDGUARD_TLS_KEY")] = None,
) -> None:
    """Start the HTTP API (OpenAPI document at /docs and /openapi.json, the dashboard at
    /dashboard, metrics at /metrics). Callers must sign requests or carry a token: see
    `lendguard partner add` and `lendguard token issue` (LENDGUARD_AUTH=off only for local development)."""
    import uvicorn

    from lendguard.api.app import ledger_threads
    from lendguard.api.observability import configure_logging
    from lendguard.security.guard import auth_enabled

    _policy(policy)  # fail fast on a bad policy or setting, before binding the port
    try:
        ledger_threads()
        auth_enabled()
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    if (tls_cert is None) != (tls_key is None):
        raise _fail("HTTPS needs both --tls-cert and --tls-key")
    for path in (tls_cert, tls_key):
        if path is not None and not path.is_file():
            raise _fail(f"no such file: {path}")
    os.environ["LENDGUARD_DATA_DIR"] = str(data_dir)
    if policy is not None:
        os.environ["LENDGUARD_POLICY"] = str(policy)
    os.environ["LENDGUARD_LOG_LEVEL"] = log_level  # worker processes configure their logs from it too
    configure_logging(log_level)
    # uvicorn re-raises SIGTERM once it has shut down gracefully; a clean stop exits 0.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    uvicorn.run(
        "lendguard.api.app:create_app", factory=True, host=host, port=port, workers=workers,
        log_config=None, log_level=log_level.lower(), timeout_graceful_shutdown=shutdown_grace,
        ssl_certfile=str(tls_cert) if tls_cert else None, ssl_keyfile=str(tls_key) if tls_key else None,
    )


# ---- policy ----------------------------------------------------------------------------------
@policy_app.command("check")
def policy_check(path: Annotated[Path, typer.Argument(help="Policy file to validate.")]) -> None:
    """Validate a policy file; prints its version and fingerprint."""
    loaded = _policy(path)
    console.print(f"[green]valid[/] {path}: version {loaded.version}, sha256 {loaded.sha256}")


@policy_app.command("show")
def policy_show(policy: PolicyPath = None) -> None:
    """Print the policy in force (the default unless --policy is given)."""
    loaded = _policy(policy)
    console.print(f"# {loaded.source}\n# version {loaded.version}, sha256 {loaded.sha256}")
    sys.stdout.write(Path(loaded.source).read_text(encoding="utf-8"))



# ---- sub-commands defined in their own modules -------------------------------------------
from lendguard.cli.audit_cmd import audit_command  # noqa: E402
from lendguard.cli.consent_cmd import consent_app, export_app, retention_app  # noqa: E402
from lendguard.cli.evidence_cmd import app as evidence_app  # noqa: E402
from lendguard.cli.fraud_cmd import app as fraud_app  # noqa: E402
from lendguard.cli.loans_cmd import app as loans_app  # noqa: E402
from lendguard.cli.loans_cmd import offer_command  # noqa: E402
from lendguard.cli.review_cmd import app as review_app  # noqa: E402
from lendguard.cli.score_cmd import app as score_app  # noqa: E402
from lendguard.cli.security_cmd import keys_app, partner_app, token_app  # noqa: E402

app.add_typer(consent_app, name="consent")
app.add_typer(review_app, name="review")
app.add_typer(evidence_app, name="evidence")
app.add_typer(retention_app, name="retention")
app.add_typer(export_app, name="export")
app.add_typer(fraud_app, name="fraud")
app.add_typer(loans_app, name="loan")
app.add_typer(score_app, name="score")
app.add_typer(partner_app, name="partner")
app.add_typer(token_app, name="token")
app.add_typer(keys_app, name="keys")
app.add_typer(loans_app, name="loans", hidden=True)  # the name before `loan`; kept so scripts keep working
app.command("offer")(offer_command)
app.command("audit")(audit_command)


if __name__ == "__main__":  # pragma: no cover
    app()
