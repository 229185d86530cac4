"""`lendguard offer` and `lendguard loan ...`: offers, applications, lines, drawdowns, repayments, statements, the
end-of-day accrual, and the ledger's balances and invariants (SPEC §2)."""

from __future__ import annotations

import datetime as dt
import json
import sys
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from lendguard.cli.common import (
    DEFAULT_DATA_DIR,
    AsOfOption,
    DataDir,
    PolicyPath,
    _as_of,
    _fail,
    _policy,
    _progress,
    console,
)
from lendguard.policy import Policy

app = typer.Typer(help="Loans from application to payoff: lines, drawdowns, repayments, statements and the ledger (SPEC §2).", no_args_is_help=True)

Key = Annotated[Optional[str], typer.Option("--key", help="Idempotency key: rerun with the same key to retry safely (default: a new one, printed).")]
At = Annotated[
    Optional[dt.datetime],
    typer.Option("--as-of", "--at", help="Value time, the simulated clock (ISO date or time, policy time if no zone; default now)."),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON (as the API returns it).")]


def _book(data_dir: Path, policy: Path | None):
    from lendguard.evidence.shared import SharedLog
    from lendguard.loans.book import LoanBook
    from lendguard.loans.database import open_ledger

    return LoanBook(open_ledger(data_dir), _policy(policy), SharedLog(data_dir))


def _moment(value: dt.datetime | None, policy: Policy) -> dt.datetime | None:
    """A value time: a time without a zone is the policy's local time (not this machine's)."""
    from lendguard.features.window import AsOf

    return None if value is None else AsOf.of(value, policy).at


def _run(call) -> dict[str, Any]:
    from lendguard.loans.book import LedgerError

    try:
        return call()
    except LedgerError as exc:
        details = "".join(f"\n  {k}: {v}" for k, v in exc.details.items())
        raise _fail(f"{exc} [{exc.code}]{details}", code=1) from exc


def _key(key: str | None) -> str:
    if key:
        return key
    made = f"cli-{uuid.uuid4().hex}"
    console.print(f"[dim]idempotency key {made} (pass --key {made} to retry this exact call)[/]")
    return made


def _print(result: dict[str, Any], as_json: bool, title: str) -> None:
    if as_json:
        sys.stdout.write(json.dumps(result, ensure_ascii=False, indent=2, default=str) + "\n")
        return
    console.print(f"[bold]{title}[/]" + (" [yellow](replayed: this key was used before)[/]" if result.get("replayed") else ""))
    loan = result.get("loan", result if "installments" in result else None)
    flat = {k: v for k, v in result.items() if not isinstance(v, (dict, list))}
    for name, value in flat.items():
        console.print(f"  {name}: {value}")
    if loan and "status" in loan and "status" not in flat:
        console.print(f"  loan status: {loan['status']}, {loan['days_past_due']} days past due ({loan['bucket']})")
    for name in ("paid", "balances"):
        block = result.get(name) or (loan or {}).get(name)
        if block:
            console.print(f"  {name}: " + ", ".join(f"{k} {v}" for k, v in block.items()))
    if loan and loan.get("installments"):
        table = Table("#", "due", "principal", "interest", "fee", "principal paid", "interest paid")
        for i in loan["installments"]:
            table.add_row(str(i["number"]), i["due_date"], i["principal"], i["interest"], i["fee"], i["principal_paid"], i["interest_paid"])
        console.print(table)


def offer_command(
    user_id: Annotated[str, typer.Argument(help="The user.")],
    as_json: AsJson = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    policy: PolicyPath = None,
    as_of: AsOfOption = None,
) -> None:
    """Each product for a user: admitted or not (reasons, advice), line, daily rate, APR by IRR."""
    service = _lending(data_dir, policy)
    offers = service.offers(user_id, _as_of(as_of, service.policy, data_dir))
    if offers is None:
        raise _fail(f"no events for user {user_id!r} in {data_dir}", code=1)
    if as_json:
        sys.stdout.write(json.dumps([json.loads(o.model_dump_json()) for o in offers], ensure_ascii=False, indent=2) + "\n")
        return
    for o in offers:
        mark = "[green]ADMITTED[/]" if o.admitted else "[red]NOT ADMITTED[/]"
        console.print(f"[bold]{o.product_id}[/] {o.name.en} / {o.name.zh}   {mark}")
        console.print(f"  {o.summary.en}\n  {o.summary.zh}")
        if o.pricing is not None:
            p = o.pricing
            console.print(
                f"  line {o.line:,}  daily rate {o.daily_rate * 100:.3f}%  APR (IRR) {p.apr * 100:.2f}%  "
                f"{p.method} over {p.term_months} months: interest {p.total_interest:,}, fees {p.total_fees:,}, repaid {p.total_repaid:,}"
            )
        for r in o.reasons:
            console.print(f"  {r.code}  {r.reason.en}  -> {r.advice.en}\n        {r.reason.zh}  -> {r.advice.zh}")
        for n in o.notes:
            console.print(f"  [yellow]note[/] {n.en} / {n.zh}")


def _lending(data_dir: Path, policy: Path | None):
    from lendguard.loans.service import LendingService
    from lendguard.store.events import EventStore
    from lendguard.visibility.service import VisibilityService

    book = _book(data_dir, policy)
    return LendingService(VisibilityService(EventStore(data_dir), book.policy), book)


Term = Annotated[int, typer.Option("--term", help="Term in months.")]
Method = Annotated[Optional[str], typer.Option(help="Repayment method (default: the product's).")]


@app.command()
def apply(
    user_id: str, product_id: str, amount: str, term: Term, method: Method = None,
    key: Key = None, as_of: At = None, as_json: AsJson = False, data_dir: DataDir = DEFAULT_DATA_DIR, policy: PolicyPath = None,
) -> None:
    """Apply for a loan: the user's line on PRODUCT_ID (opened from their offer if needed), then AMOUNT drawn."""
    service = _lending(data_dir, policy)
    moment = _moment(as_of, service.policy)
    result = _run(lambda: service.apply(user_id, product_id, amount, term, method, _key(key), _as_of(moment, service.policy, data_dir), moment))
    _print_disbursed(service.book, result, as_json)


@app.command("open-line")
def open_line(
    user_id: str, product_id: str, key: Key = None, as_json: AsJson = False, data_dir: DataDir = DEFAULT_DATA_DIR, policy: PolicyPath = None, as_of: AsOfOption = None,
) -> None:
    """Open a revolving line on PRODUCT_ID for a user admitted to it (the offer's line and rate)."""
    service = _lending(data_dir, policy)
    result = _run(lambda: service.open_line(user_id, product_id, _key(key), _as_of(as_of, service.policy, data_dir)))
    _print(result, as_json, "line opened")


@app.command()
def drawdown(
    line_id: str, amount: str, term: Term, method: Method = None,
    key: Key = None, as_of: At = None, as_json: AsJson = False, data_dir: DataDir = DEFAULT_DATA_DIR, policy: PolicyPath = None,
) -> None:
    """Borrow AMOUNT from a line: contract, schedule, disbursement of the whole principal."""
    book = _book(data_dir, policy)
    _print_disbursed(book, _run(lambda: book.draw(line_id, amount, term, method, _key(key), _moment(as_of, book.policy))), as_json)


def _print_disbursed(book, result: dict[str, Any], as_json: bool) -> None:
    if not as_json:
        result = {**{k: v for k, v in result.items() if k != "terms"}, "loan": book.loan(result["loan_id"])}
    _print(result, as_json, "disbursed")


@app.command()
def repay(loan_id: str, amount: str, key: Key = None, as_of: At = None, as_json: AsJson = False, data_dir: DataDir = DEFAULT_DATA_DIR, policy: PolicyPath = None) -> None:
    """Repay AMOUNT: what is due in the policy's order, then prepayment."""
    book = _book(data_dir, policy)
    _print(_run(lambda: book.repay(loan_id, amount, _key(key), _moment(as_of, book.policy))), as_json, "repaid")


@app.command()
def prepay(loan_id: str, amount: str, key: Key = None, as_of: At = None, as_json: AsJson = False, data_dir: DataDir = DEFAULT_DATA_DIR, policy: PolicyPath = None) -> None:
    """Prepay: AMOUNT pays what is due, and the rest goes to principal not yet due, under the
    product's prepayment rule (the rest of the schedule is re-spread). `close` pays it all."""
    book = _book(data_dir, policy)
    moment = _moment(as_of, book.policy)
    statement = _run(lambda: book.statement(loan_id, moment))
    if Decimal(amount) <= Decimal(statement["due"]):
        raise _fail(f"{amount} is not more than the {statement['due']} due on {statement['on']}, so it prepays nothing; `lendguard loan repay` pays what is due", code=1)
    _print(_run(lambda: book.repay(loan_id, amount, _key(key), moment)), as_json, "prepaid")


@app.command()
def close(loan_id: str, key: Key = None, as_of: At = None, as_json: AsJson = False, data_dir: DataDir = DEFAULT_DATA_DIR, policy: PolicyPath = None) -> None:
    """Pay the loan off and close it: the payoff on that day (penalty, fees, interest, principal
    and any prepayment charge) is repaid in one entry."""
    book = _book(data_dir, policy)
    moment = _moment(as_of, book.policy)
    quote = _run(lambda: book.payoff(loan_id, moment))
    result = _run(lambda: book.repay(loan_id, quote["payoff"], _key(key), moment))
    _print(result, as_json, f"closed: paid {quote['payoff']} on {quote['on']}")


@app.command()
def statement(loan_id: str, as_of: At = None, as_json: AsJson = False, data_dir: DataDir = DEFAULT_DATA_DIR, policy: PolicyPath = None) -> None:
    """A loan on a day: balances, schedule, amount due, payoff and its journal (nothing stored)."""
    book = _book(data_dir, policy)
    found = _run(lambda: book.statement(loan_id, _moment(as_of, book.policy)))
    if as_json:
        _print(found, True, "")
        return
    _print({k: v for k, v in found.items() if k != "entries"}, False, f"statement of loan {loan_id} on {found['on']}")
    table = Table("date", "entry", "debits", "credits", title="journal")
    for entry in found["entries"]:
        table.add_row(
            entry["date"], entry["kind"], ", ".join(f"{a} {v}" for a, v in entry["debits"].items()), ", ".join(f"{a} {v}" for a, v in entry["credits"].items())
        )
    console.print(table)


@app.command()
def show(loan_id: str, as_json: AsJson = False, data_dir: DataDir = DEFAULT_DATA_DIR, policy: PolicyPath = None) -> None:
    """A loan as stored: status, balances, bucket and installments."""
    book = _book(data_dir, policy)
    _print(_run(lambda: book.loan(loan_id)), as_json, f"loan {loan_id}")


@app.command()
def payoff(loan_id: str, as_of: At = None, data_dir: DataDir = DEFAULT_DATA_DIR, policy: PolicyPath = None) -> None:
    """What closes the loan on a day (nothing is stored)."""
    book = _book(data_dir, policy)
    _print(_run(lambda: book.payoff(loan_id, _moment(as_of, book.policy))), False, "payoff")


@app.command()
def contract(loan_id: str, lang: Annotated[str, typer.Option(help="zh or en.")] = "en", data_dir: DataDir = DEFAULT_DATA_DIR, policy: PolicyPath = None) -> None:
    """Print a loan's contract text and its SHA-256."""
    found = _run(lambda: _book(data_dir, policy).contract(loan_id))
    sys.stdout.write(found["text_zh" if lang == "zh" else "text_en"] + f"\nsha256 {found['sha256']}\n")


@app.command("write-off")
def write_off(loan_id: str, key: Key = None, as_of: At = None, data_dir: DataDir = DEFAULT_DATA_DIR, policy: PolicyPath = None) -> None:
    """Write a loan off: its receivables become credit losses and its line is frozen."""
    book = _book(data_dir, policy)
    _print(_run(lambda: book.write_off(loan_id, _key(key), _moment(as_of, book.policy))), False, "written off")


@app.command()
def accrue(
    through: Annotated[Optional[dt.date], typer.Option("--through", formats=["%Y-%m-%d"], help="Last day to accrue (default today, policy time).")] = None,
    data_dir: DataDir = DEFAULT_DATA_DIR, policy: PolicyPath = None,
) -> None:
    """End of day: interest, penalty, fees due, delinquency buckets, and write-offs past the limit."""
    book = _book(data_dir, policy)
    day = through or book.business_date(None)
    with _progress() as progress:
        task = progress.add_task(f"accruing through {day}", total=None)
        counts = book.accrue(day, progress=lambda n: progress.advance(task, n))
    console.print(f"accrued {counts['loans']:,} loans through {day}; {counts['written_off']:,} written off")


@app.command()
def simulate(
    loans: Annotated[int, typer.Option("--loans", min=1, help="How many loans the cohort draws.")] = 200,
    seed: Annotated[int, typer.Option(help="Random seed of the scenario (who borrows, how much, how they repay).")] = 7,
    months: Annotated[int, typer.Option(min=1, max=60, help="How long the simulated clock runs.")] = 12,
    data_dir: DataDir = DEFAULT_DATA_DIR, policy: PolicyPath = None, as_of: AsOfOption = None,
) -> None:
    """Run a loan book through a year on the simulated clock: admitted users borrow on their
    offers and repay on time, prepay, fall overdue and cure, or default and are written off.
    Writes real ledger entries (use an empty ledger) and prints the portfolio."""
    from lendguard.loans.portfolio import write_year
    from lendguard.loans.simulation import plan_portfolio, run_year
    from lendguard.store.events import EventStore
    from lendguard.visibility.service import VisibilityService

    store = EventStore(data_dir)
    if store.is_empty():
        raise _fail(f"no events stored in {data_dir}; run `lendguard synth` first")
    book = _book(data_dir, policy)
    loaded = book.policy
    held = sum(r["loans"] for r in book.portfolio())
    if held:
        raise _fail(f"the ledger already holds {held:,} loans; the simulation writes synthetic loans, so give it an empty ledger (a fresh --data-dir)", code=1)
    when = _as_of(as_of, loaded, data_dir)
    with _progress() as progress:
        step = progress.add_task("deciding visibility and offers", total=None)
        decisions = VisibilityService(store, loaded).evaluate_all(when).decisions
        planned = plan_portfolio(decisions, loaded, when.local_date, loans, seed)
        progress.update(step, total=1, completed=1)
        task = progress.add_task(f"{len(planned):,} loans through {months} months", total=None)
        year = run_year(book, planned, when.local_date, months, progress=lambda done, total: progress.update(task, completed=done, total=total), run_id=f"sim-{seed}")
    written = year.to_json()
    write_year(data_dir, written)
    console.print(f"simulated {len(planned):,} loans from {year.start} to {year.end} in {year.seconds:.1f}s: " + ", ".join(f"{v:,} {k}" for k, v in sorted(year.calls.items())))
    print_portfolio(year.snapshot, written)


def print_portfolio(snapshot: dict[str, Any], year: dict[str, Any] | None) -> None:
    """The loan book in the terminal: outcomes of the simulated year, status x bucket, totals."""
    from rich.console import Console

    wide = Console(width=max(console.width, 140))
    if year:
        table = Table("behaviour", "status", "loans", "principal", "worst bucket", title=f"A year of loans, {year['start']} to {year['end']} (SYNTHETIC)")
        for row in year["outcomes"]:
            table.add_row(row["behaviour"], row["status"], f"{row['loans']:,}", f"{Decimal(row['principal']):,}", row["worst_bucket"])
        wide.print(table)
    table = Table("status", "bucket", "loans", "principal", "outstanding", "interest due", "penalty due", "fees due", title="Portfolio: loans by status and delinquency bucket")
    for r in snapshot["by_status"]:
        table.add_row(
            r["status"], r["bucket"], f"{r['loans']:,}", f"{r['principal']:,}", f"{r['principal_outstanding']:,}",
            f"{r['interest_receivable']:,}", f"{r['penalty_receivable']:,}", f"{r['fee_receivable']:,}",
        )
    wide.print(table)
    t = snapshot["totals"]
    console.print(
        f"disbursed {t['disbursed']:,}; outstanding principal {t['principal_outstanding']:,} on {t['active_loans']:,} active loans, "
        f"{t['overdue_principal']:,} of it overdue ({t['overdue_share']:.1%}); income: interest {t['interest_income']:,}, "
        f"penalty {t['penalty_income']:,}, fees {t['fee_income']:,}; credit losses {t['credit_losses']:,}"
    )
    for problem in snapshot["problems"]:
        console.print(f"[red]broken[/] {problem}")
    if not snapshot["problems"]:
        console.print("[green]the ledger balances and every invariant holds[/]")


@app.command()
def check(data_dir: DataDir = DEFAULT_DATA_DIR, policy: PolicyPath = None) -> None:
    """The trial balance, and every ledger invariant (exit 1 if one is broken)."""
    from lendguard.loans.invariants import ledger_problems

    book = _book(data_dir, policy)
    table = Table("account", "balance (debit +)")
    balances = book.trial_balance()
    for account, balance in balances.items():
        table.add_row(account, f"{balance:,}")
    table.add_row("[bold]total[/]", f"{sum(balances.values(), Decimal(0)):,}")
    console.print(table)
    problems = ledger_problems(book.sessions)
    for problem in problems:
        console.print(f"[red]broken[/] {problem}")
    if problems:
        raise typer.Exit(1)
    console.print("[green]the ledger balances and every invariant holds[/]")
