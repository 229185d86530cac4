"""`lendguard offer` and `lendguard loans ...`: offers, lines, drawdowns, repayments, the
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

app = typer.Typer(help="Credit lines, drawdowns, repayments and the loan ledger (SPEC §2).", no_args_is_help=True)

Key = Annotated[Optional[str], typer.Option("--key", help="Idempotency key: rerun with the same key to retry safely (default: a new one, printed).")]
At = Annotated[Optional[dt.datetime], typer.Option("--at", help="Value time (ISO; default now).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON (as the API returns it).")]


def _book(data_dir: Path, policy: Path | None):
    from lendguard.evidence.shared import SharedLog
    from lendguard.loans.book import LoanBook
    from lendguard.loans.database import open_ledger

    return LoanBook(open_ledger(data_dir), _policy(policy), SharedLog(data_dir))


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
    from lendguard.loans.service import LendingService
    from lendguard.store.events import EventStore
    from lendguard.visibility.service import VisibilityService

    loaded = _policy(policy)
    service = LendingService(VisibilityService(EventStore(data_dir), loaded), _book(data_dir, policy))
    offers = service.offers(user_id, _as_of(as_of, loaded, data_dir))
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


@app.command("open-line")
def open_line(
    user_id: str, product_id: str, key: Key = None, as_json: AsJson = False, data_dir: DataDir = DEFAULT_DATA_DIR, policy: PolicyPath = None, as_of: AsOfOption = None,
) -> None:
    """Open a revolving line on PRODUCT_ID for a user admitted to it (the offer's line and rate)."""
    from lendguard.loans.service import LendingService
    from lendguard.store.events import EventStore
    from lendguard.visibility.service import VisibilityService

    loaded = _policy(policy)
    service = LendingService(VisibilityService(EventStore(data_dir), loaded), _book(data_dir, policy))
    result = _run(lambda: service.open_line(user_id, product_id, _key(key), _as_of(as_of, loaded, data_dir)))
    _print(result, as_json, "line opened")


@app.command()
def draw(
    line_id: str,
    amount: str,
    term: Annotated[int, typer.Option("--term", help="Term in months.")],
    method: Annotated[Optional[str], typer.Option(help="Repayment method (default: the product's).")] = None,
    key: Key = None, at: At = None, as_json: AsJson = False, data_dir: DataDir = DEFAULT_DATA_DIR, policy: PolicyPath = None,
) -> None:
    """Borrow AMOUNT from a line: contract, schedule, disbursement of the whole principal."""
    book = _book(data_dir, policy)
    result = _run(lambda: book.draw(line_id, amount, term, method, _key(key), at))
    if not as_json:
        result = {**{k: v for k, v in result.items() if k != "terms"}, "loan": book.loan(result["loan_id"])}
    _print(result, as_json, "disbursed")


@app.command()
def repay(loan_id: str, amount: str, key: Key = None, at: At = None, as_json: AsJson = False, data_dir: DataDir = DEFAULT_DATA_DIR, policy: PolicyPath = None) -> None:
    """Repay AMOUNT: what is due in the policy's order, then prepayment."""
    book = _book(data_dir, policy)
    _print(_run(lambda: book.repay(loan_id, amount, _key(key), at)), as_json, "repaid")


@app.command()
def show(loan_id: str, as_json: AsJson = False, data_dir: DataDir = DEFAULT_DATA_DIR, policy: PolicyPath = None) -> None:
    """A loan: status, balances, bucket and installments."""
    book = _book(data_dir, policy)
    _print(_run(lambda: book.loan(loan_id)), as_json, f"loan {loan_id}")


@app.command()
def payoff(loan_id: str, at: At = None, data_dir: DataDir = DEFAULT_DATA_DIR, policy: PolicyPath = None) -> None:
    """What closes the loan on a day (nothing is stored)."""
    book = _book(data_dir, policy)
    _print(_run(lambda: book.payoff(loan_id, at)), False, "payoff")


@app.command()
def contract(loan_id: str, lang: Annotated[str, typer.Option(help="zh or en.")] = "en", data_dir: DataDir = DEFAULT_DATA_DIR, policy: PolicyPath = None) -> None:
    """Print a loan's contract text and its SHA-256."""
    found = _run(lambda: _book(data_dir, policy).contract(loan_id))
    sys.stdout.write(found["text_zh" if lang == "zh" else "text_en"] + f"\nsha256 {found['sha256']}\n")


@app.command("write-off")
def write_off(loan_id: str, key: Key = None, at: At = None, data_dir: DataDir = DEFAULT_DATA_DIR, policy: PolicyPath = None) -> None:
    """Write a loan off: its receivables become credit losses and its line is frozen."""
    book = _book(data_dir, policy)
    _print(_run(lambda: book.write_off(loan_id, _key(key), at)), False, "written off")


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
