"""The loan book: open lines, draw, repay, accrue, write off, with exactly-once money.

Every state-changing call takes an idempotency key. The key, the hash of the request and
the response are stored in the same transaction as the money movement, so a retried call
returns the first answer and never moves money twice; the same key with a different
request is refused. Each call is one transaction: the line or loan row is locked (FOR
UPDATE on PostgreSQL; SQLite's single writer queues the others), the journal entry is
checked balanced before it is written, and a crash leaves either all of it or none.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Callable
from decimal import ROUND_DOWN, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from lendguard.evidence.shared import SharedLog
from lendguard.loans.contract import contract_terms, render_contract
from lendguard.loans.models import (
    Contract,
    CreditLine,
    IdempotencyKey,
    InstallmentRow,
    JournalEntry,
    Loan,
    Posting,
)
from lendguard.loans.money import MoneyRules
from lendguard.loans.offers import Offer, cap_violation, price
from lendguard.loans.records import Record, insert_rows, read, snapshot, write_changes
from lendguard.loans.servicing import ACCOUNTS, Lines, Servicer, ServicingError
from lendguard.policy import Policy
from lendguard.policy.loans import LoanPolicy


class _KeyTaken(Exception):
    """The idempotency key was stored by another transaction: roll this one back."""


class LedgerError(ServicingError):
    """A refused call: `code` for machines, the message for people, `status` for HTTP."""

    def __init__(self, code: str, message: str, status: int = 422, **details: object):
        super().__init__(code, message, **details)
        self.status = status


def penalty_daily_rate(daily_rate: Decimal, multiplier: Decimal, loans: LoanPolicy) -> Decimal:
    """The overdue daily rate: the product's multiple of the daily rate, capped so that a
    year of it stays within `caps.penalty_apr` (rounded down to 1e-10, never above)."""
    capped = min(daily_rate * multiplier, loans.caps.penalty_apr / loans.days_per_year)
    return capped.quantize(Decimal("1e-10"), rounding=ROUND_DOWN).normalize()


def _sha(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _id(prefix: str, *parts: str) -> str:
    return f"{prefix}-" + hashlib.sha256("|".join(parts).encode()).hexdigest()[:20]


LINES, LOANS, INSTALLMENTS = CreditLine.__table__, Loan.__table__, InstallmentRow.__table__
ENTRIES, POSTINGS, KEYS, CONTRACTS = JournalEntry.__table__, Posting.__table__, IdempotencyKey.__table__, Contract.__table__
# Statements every call runs, built once (SELECT ... FOR UPDATE is a plain SELECT on SQLite).
LOCK_LINE = select(LINES).where(LINES.c.line_id == bindparam("line_id")).with_for_update()
LOCK_LINE_OF_LOAN = select(LINES).where(
    LINES.c.line_id == select(LOANS.c.line_id).where(LOANS.c.loan_id == bindparam("loan_id")).scalar_subquery()
).with_for_update()
LOCK_LOAN = select(LOANS).where(LOANS.c.loan_id == bindparam("loan_id")).with_for_update()
INSTALLMENTS_OF = select(INSTALLMENTS).where(INSTALLMENTS.c.loan_id == bindparam("loan_id")).order_by(INSTALLMENTS.c.number)
STORED_KEY = select(KEYS).where(KEYS.c.key == bindparam("key"))


class Txn:
    """One call's transaction: its connection, the rows it read for update (written back
    by `save`) and the journal entries it made (written by `save` in two statements)."""

    def __init__(self, conn: Connection):
        self.conn = conn
        self.entries: list[dict[str, Any]] = []
        self.postings: list[dict[str, Any]] = []
        self.tracked: list[tuple[Any, tuple[str, ...], list[Record], list[dict[str, Any]]]] = []

    def track(self, table: Any, keys: tuple[str, ...], records: list[Record]) -> list[Record]:
        self.tracked.append((table, keys, records, snapshot(records)))
        return records

    def post(self, kind: str, loan_id: str | None, day: dt.date, lines: Lines, key: str | None = None) -> None:
        """A balanced journal entry (nothing when there are no lines)."""
        if not lines.items:
            return
        if not lines.balanced():
            raise AssertionError(f"unbalanced {kind} entry for {loan_id}: {lines.items}")
        unknown = {account for account, _, _ in lines.items} - set(ACCOUNTS)
        if unknown:
            raise AssertionError(f"unknown accounts {unknown}")
        entry_id = uuid.uuid4().hex
        self.entries.append({
            "entry_id": entry_id, "loan_id": loan_id, "kind": kind, "business_date": day,
            "recorded_at": dt.datetime.now(dt.timezone.utc), "idempotency_key": key, "memo": "",
        })
        self.postings += [{"entry_id": entry_id, "account": a, "loan_id": loan_id, "debit_minor": d, "credit_minor": c} for a, d, c in lines.items]

    def save(self) -> None:
        for table, keys, records, before in self.tracked:
            write_changes(self.conn, table, keys, records, before)
        insert_rows(self.conn, ENTRIES, self.entries)
        insert_rows(self.conn, POSTINGS, self.postings)
        self.tracked, self.entries, self.postings = [], [], []


class LoanBook:
    def __init__(self, sessions: sessionmaker[Session], policy: Policy, evidence: SharedLog | None = None):
        self.sessions = sessions
        self.engine = sessions.kw["bind"]
        self.policy = policy
        self.loans_policy = policy.loans
        self.money = MoneyRules.of(policy.loans)
        self.servicer = Servicer(policy.loans)
        self.evidence = evidence
        self.zone = ZoneInfo(policy.timezone)
        self._insert_new = _insert_ignoring_duplicates(self.engine.dialect.name)

    # ---- plumbing ------------------------------------------------------------------------
    def business_date(self, at: dt.datetime | None) -> dt.date:
        return (at or dt.datetime.now(dt.timezone.utc)).astimezone(self.zone).date()

    def _once(self, key: str, operation: str, request: dict[str, Any], work: Callable[[Txn], dict[str, Any]]) -> dict[str, Any]:
        """Run `work` once per key: a retry gets the stored response (marked `replayed`)."""
        if not key or len(key) > 128:
            raise LedgerError("bad_idempotency_key", "an idempotency key of 1 to 128 characters is required", 400)
        digest = _sha({"operation": operation, **request})
        for _attempt in range(3):
            try:
                with self.engine.begin() as conn:
                    txn = Txn(conn)
                    try:
                        response = work(txn)  # the rows it touches are locked: a concurrent twin waits here
                    except ServicingError as exc:
                        stored = conn.execute(STORED_KEY, {"key": key}).first()
                        if stored is not None:  # made before, and today's state refuses it again: the first answer stands
                            return self._replay(stored, digest)
                        if isinstance(exc, LedgerError):
                            raise
                        raise LedgerError(exc.code, str(exc), 422, **exc.details) from exc  # the loan's state refuses it
                    txn.save()
                    # The key is stored last, with the response, in the same transaction: when it
                    # is taken (a retry, or a twin that committed first) everything rolls back.
                    claim = {
                        "key": key, "operation": operation, "request_sha256": digest,
                        "response": json.dumps(response, default=str, sort_keys=True), "created_at": dt.datetime.now(dt.timezone.utc),
                    }
                    if not self._insert_new(conn, claim):
                        raise _KeyTaken
                return response
            except (_KeyTaken, IntegrityError):
                with self.engine.connect() as conn:
                    stored = conn.execute(STORED_KEY, {"key": key}).first()
                if stored is not None:
                    return self._replay(stored, digest)
                # the twin holding the key rolled back: try again
        raise LedgerError("idempotency_busy", f"idempotency key {key!r} is being used by another request", 409)

    def _replay(self, stored: Any, digest: str) -> dict[str, Any]:
        if stored.request_sha256 != digest:
            raise LedgerError(
                "idempotency_key_reused", f"idempotency key {stored.key!r} was used for a different {stored.operation} request", 409
            )
        return {**json.loads(stored.response), "replayed": True}

    def _amount(self, value: Decimal | str) -> Decimal:
        try:
            return self.money.parse(value)
        except ValueError as exc:
            raise LedgerError("bad_amount", str(exc)) from exc

    def _line(self, txn: Txn, line_id: str) -> Record:
        found = read(txn.conn, LOCK_LINE, {"line_id": line_id})
        if not found:
            raise LedgerError("unknown_line", f"no credit line {line_id!r}", 404)
        return txn.track(LINES, ("line_id",), found)[0]

    def _loan(self, txn: Txn, loan_id: str) -> tuple[Record, Record, list[Record]]:
        """The loan's line, the loan and its installments, locked: the line first, then the
        loan. Every call locks in that order (a drawdown takes the line alone), so no two
        calls wait on each other."""
        line = read(txn.conn, LOCK_LINE_OF_LOAN, {"loan_id": loan_id})
        if not line:
            raise LedgerError("unknown_loan", f"no loan {loan_id!r}", 404)
        loan = read(txn.conn, LOCK_LOAN, {"loan_id": loan_id})
        rows = read(txn.conn, INSTALLMENTS_OF, {"loan_id": loan_id})
        txn.track(LINES, ("line_id",), line)
        txn.track(LOANS, ("loan_id",), loan)
        txn.track(INSTALLMENTS, ("loan_id", "number"), rows)
        return line[0], loan[0], rows

    def _loan_accrued(self, txn: Txn, loan_id: str, day: dt.date) -> tuple[Record, Record, list[Record]]:
        """The loan locked (see `_loan`) and accrued through `day`, which may not precede its last accrual."""
        line, loan, rows = self._loan(txn, loan_id)
        self._not_before(loan, day)
        accrual = Lines()
        self.servicer.accrue(loan, rows, day, accrual)
        txn.post("accrual", loan_id, day, accrual)
        return line, loan, rows

    def _not_before(self, loan: Record, day: dt.date) -> None:
        if day < loan.accrued_through:
            raise LedgerError("backdated", f"loan {loan.loan_id} is accrued through {loan.accrued_through}; {day} is earlier", 409)

    # ---- lines -------------------------------------------------------------------------------
    def open_line(self, offer: Offer, user_id: str, key: str, at: dt.datetime | None = None) -> dict[str, Any]:
        """A revolving line from an admitted offer (its line and daily rate)."""
        if not offer.admitted:
            raise LedgerError("not_admitted", f"{offer.product_id} is not offered to {user_id}: " + "; ".join(r.reason.en for r in offer.reasons), codes=[r.code for r in offer.reasons])
        request = {"user_id": user_id, "product_id": offer.product_id}

        def work(txn: Txn) -> dict[str, Any]:
            line_id = self.line_id_of(user_id, offer.product_id)
            if txn.conn.execute(select(LINES.c.line_id).where(LINES.c.line_id == line_id)).first() is not None:
                raise LedgerError("line_exists", f"{user_id} already has line {line_id} on {offer.product_id}", 409, line_id=line_id)
            line = Record(
                line_id=line_id, user_id=user_id, product_id=offer.product_id, limit_minor=self.money.to_minor(offer.line), used_minor=0,
                daily_rate=str(offer.daily_rate), status="open", policy_version=self.policy.version, opened_at=at or dt.datetime.now(dt.timezone.utc),
            )
            txn.conn.execute(insert(LINES), [vars(line)])
            return self._line_view(line)

        return self._once(key, "open_line", request, work)

    @staticmethod
    def line_id_of(user_id: str, product_id: str) -> str:
        """A user has at most one line per product; its id follows from the two."""
        return _id("cl", user_id, product_id)

    def has_line(self, line_id: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(LINES.c.line_id).where(LINES.c.line_id == line_id)).first() is not None

    def apply(
        self, user_id: str, product_id: str, open_line: Callable[[str], dict[str, Any]], amount: Decimal | str, term_months: int,
        method: str | None, key: str, at: dt.datetime | None = None,
    ) -> dict[str, Any]:
        """A loan in one call: the user's line on the product (opened by `open_line(key)`,
        from the user's offer, when there is none yet), then the drawdown at `at`. Retrying
        with the same key opens nothing twice and disburses once."""
        line_id = self.line_id_of(user_id, product_id)
        if not self.has_line(line_id):
            try:
                open_line(f"{key}/line")
            except LedgerError as exc:
                if exc.code != "line_exists":  # a concurrent twin opened it: draw on it
                    raise
        return self.draw(line_id, amount, term_months, method, key, at)

    def _line_view(self, line: Any) -> dict[str, Any]:
        return {
            "line_id": line.line_id, "user_id": line.user_id, "product_id": line.product_id, "status": line.status,
            "limit": str(self.money.from_minor(line.limit_minor)), "used": str(self.money.from_minor(line.used_minor)),
            "available": str(self.money.from_minor(line.limit_minor - line.used_minor)), "daily_rate": line.daily_rate,
        }

    def line(self, line_id: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            found = conn.execute(select(LINES).where(LINES.c.line_id == line_id)).first()
        if found is None:
            raise LedgerError("unknown_line", f"no credit line {line_id!r}", 404)
        return self._line_view(found)

    # ---- drawdown -----------------------------------------------------------------------------
    def draw(self, line_id: str, amount: Decimal | str, term_months: int, method: str | None, key: str, at: dt.datetime | None = None) -> dict[str, Any]:
        """Disburse `amount` from the line: the contract, its schedule and the journal entry.
        The disbursed amount is the contract principal, always (no head-cut interest)."""
        day = self.business_date(at)
        amount = self._amount(amount)
        request = {"line_id": line_id, "amount": str(amount), "term_months": term_months, "method": method, "day": day.isoformat()}
        stored: list[Record] = []  # the contract row this call wrote, logged once it is committed

        def work(txn: Txn) -> dict[str, Any]:
            line = self._line(txn, line_id)
            product = self.loans_policy.products[line.product_id]
            chosen = method or product.default_method
            if line.status != "open":
                raise LedgerError("line_not_open", f"line {line_id} is {line.status}", 409)
            if chosen not in product.methods:
                raise LedgerError("bad_method", f"{line.product_id} offers {product.methods}, not {chosen!r}")
            if term_months not in product.terms_months:
                raise LedgerError("bad_term", f"{line.product_id} offers terms of {product.terms_months} months, not {term_months}")
            if amount < product.min_drawdown:
                raise LedgerError("below_minimum", f"{line.product_id} lends at least {product.min_drawdown} a drawdown, not {amount}")
            principal = self.money.to_minor(amount)
            available = line.limit_minor - line.used_minor
            if principal > available:
                raise LedgerError("exceeds_line", f"{amount} is more than the {self.money.from_minor(available)} available on line {line_id}", available=str(self.money.from_minor(available)))
            schedule, apr = price(product, self.loans_policy, amount, Decimal(line.daily_rate), chosen, term_months, day)
            violation = cap_violation(apr, self.loans_policy)
            if violation is not None:
                raise LedgerError("price_above_cap", str(violation), cap=str(violation.cap), apr=str(apr))
            loan_id = f"ln-{uuid.uuid4().hex[:20]}"  # not from the key: keys repeat across ledgers, the evidence log's ids may not
            penalty = penalty_daily_rate(Decimal(line.daily_rate), product.penalty_multiplier, self.loans_policy)
            terms = contract_terms(loan_id, line.user_id, line.product_id, schedule, apr, penalty, self.policy)
            contract = render_contract(terms, self.policy)
            txn.conn.execute(insert(LOANS), [{
                "loan_id": loan_id, "line_id": line_id, "user_id": line.user_id, "product_id": line.product_id, "principal_minor": principal,
                "method": chosen, "term_months": term_months, "daily_rate": line.daily_rate, "penalty_daily_rate": str(penalty), "apr": str(apr),
                "start_date": day, "maturity_date": schedule.installments[-1].due_date, "status": "active", "accrued_through": day,
                "penalty_exact": "0", "principal_outstanding": principal, "interest_receivable": 0, "penalty_receivable": 0, "fee_receivable": 0,
                "days_past_due": 0, "bucket": "current", "contract_sha256": contract.sha256, "policy_version": self.policy.version,
                "created_at": dt.datetime.now(dt.timezone.utc), "closed_at": None,
            }])
            starts = [day] + [i.due_date for i in schedule.installments[:-1]]
            txn.conn.execute(insert(INSTALLMENTS), [
                {
                    "loan_id": loan_id, "number": i.number, "start_date": begun, "due_date": i.due_date, "principal_minor": self.money.to_minor(i.principal),
                    "interest_minor": self.money.to_minor(i.interest), "fee_minor": self.money.to_minor(i.fee), "interest_exact": "0", "interest_accrued": 0,
                    "principal_paid": 0, "interest_paid": 0, "fee_paid": 0, "fee_posted": False, "overdue_fee_charged": False,
                }
                for i, begun in zip(schedule.installments, starts, strict=True)
            ])
            row = Record(loan_id=loan_id, text_zh=contract.text_zh, text_en=contract.text_en, terms_json=json.dumps(terms, sort_keys=True), sha256=contract.sha256)
            txn.conn.execute(insert(CONTRACTS), [vars(row)])
            stored[:] = [row]
            line.used_minor += principal
            lines = Lines()
            lines.move("loans_principal", "cash", principal)  # the whole principal leaves: disbursed == principal
            txn.post("disbursement", loan_id, day, lines, key)
            return {"loan_id": loan_id, "line": self._line_view(line), "disbursed": str(amount), "contract_sha256": contract.sha256, "apr": str(apr), "terms": terms}

        response = self._once(key, "draw", request, work)
        if not response.get("replayed") and self.evidence is not None:
            from lendguard.loans.evidence import CONTRACT_KIND, contract_record

            self.evidence.get().append(CONTRACT_KIND, response["loan_id"], contract_record(stored[0]))
        return response

    # ---- repayment ------------------------------------------------------------------------------
    def repay(self, loan_id: str, amount: Decimal | str, key: str, at: dt.datetime | None = None) -> dict[str, Any]:
        day = self.business_date(at)
        amount = self._amount(amount)
        request = {"loan_id": loan_id, "amount": str(amount), "day": day.isoformat()}

        def work(txn: Txn) -> dict[str, Any]:
            line, loan, rows = self._loan_accrued(txn, loan_id, day)
            lines = Lines()
            paid = self.servicer.repay(loan, rows, self.money.to_minor(amount), day, lines)
            txn.post("repayment", loan_id, day, lines, key)
            line.used_minor -= paid["principal"]
            if loan.status == "paid_off":
                loan.closed_at = dt.datetime.now(dt.timezone.utc)
            return {"loan_id": loan_id, "paid": {k: str(self.money.from_minor(v)) for k, v in paid.items()}, "loan": self._loan_view(loan, rows)}

        return self._once(key, "repay", request, work)

    def _quote(self, loan_id: str, day: dt.date) -> tuple[Record, list[Record]]:
        """The loan and its installments accrued through `day` in memory (read, then rolled
        back: nothing is stored)."""
        with self.engine.connect() as conn:
            txn = Txn(conn)
            _line, loan, rows = self._loan(txn, loan_id)
            conn.rollback()
        self._not_before(loan, day)
        if loan.status == "active":
            self.servicer.accrue(loan, rows, day, Lines())
        return loan, rows

    def payoff(self, loan_id: str, at: dt.datetime | None = None) -> dict[str, Any]:
        """What closes the loan on a day (nothing is stored)."""
        quote = self.quote(loan_id, at)
        if quote["status"] != "active":
            raise LedgerError("loan_closed", f"loan {loan_id} is {quote['status']}; there is nothing to pay off", 409)
        return {"loan_id": loan_id, "on": quote["on"], "payoff": quote["payoff"]}

    def quote(self, loan_id: str, at: dt.datetime | None = None) -> dict[str, Any]:
        """What is due on a day and what pays the loan off (nothing is stored)."""
        day = self.business_date(at)
        loan, rows = self._quote(loan_id, day)
        return {"loan_id": loan_id, "status": loan.status, "days_past_due": loan.days_past_due, "bucket": loan.bucket, **self._owed(loan, rows, day)}

    def _owed(self, loan: Record, rows: list[Record], day: dt.date) -> dict[str, str]:
        active = loan.status == "active"
        due = self.servicer.due_amount(loan, rows, day) if active else 0
        payoff = self.servicer.payoff_amount(loan, rows, day) if active else 0
        return {"on": day.isoformat(), "due": str(self.money.from_minor(due)), "payoff": str(self.money.from_minor(payoff))}

    def statement(self, loan_id: str, at: dt.datetime | None = None) -> dict[str, Any]:
        """The loan as of a day (accrued in memory, nothing stored): balances, schedule, what
        is due, what pays it off, and every journal entry of the loan with its amounts."""
        day = self.business_date(at)
        loan, rows = self._quote(loan_id, day)
        m = self.money.from_minor
        with self.engine.connect() as conn:
            found = conn.execute(
                select(ENTRIES.c.entry_id, ENTRIES.c.kind, ENTRIES.c.business_date, POSTINGS.c.account, POSTINGS.c.debit_minor, POSTINGS.c.credit_minor)
                .join(POSTINGS, POSTINGS.c.entry_id == ENTRIES.c.entry_id)
                .where(ENTRIES.c.loan_id == loan_id)
                .order_by(ENTRIES.c.business_date, ENTRIES.c.recorded_at, ENTRIES.c.entry_id)
            ).all()
        entries: dict[str, dict[str, Any]] = {}
        for entry_id, kind, business_date, account, debit, credit in found:
            entry = entries.setdefault(entry_id, {"date": business_date.isoformat(), "kind": kind, "debits": {}, "credits": {}})
            if debit:
                entry["debits"][account] = str(m(debit))
            if credit:
                entry["credits"][account] = str(m(credit))
        return {**self._loan_view(loan, rows), **self._owed(loan, rows, day), "entries": list(entries.values())}

    # ---- end of day -------------------------------------------------------------------------------
    def accrue(self, through: dt.date, progress: Callable[[int], None] | None = None) -> dict[str, int]:
        """Accrue every active loan through a day: interest, penalty, fees due, ageing, and the
        write-off of loans past the policy's limit. Safe to rerun: each loan remembers its day."""
        with self.engine.connect() as conn:
            ids = conn.execute(select(LOANS.c.loan_id).where(LOANS.c.status == "active", LOANS.c.accrued_through < through).order_by(LOANS.c.loan_id)).scalars().all()
        counts = {"loans": 0, "written_off": 0}
        for loan_id in ids:
            with self.engine.begin() as conn:
                txn = Txn(conn)
                line, loan, rows = self._loan(txn, loan_id)
                if loan.status == "active" and loan.accrued_through < through:
                    lines = Lines()
                    self.servicer.accrue(loan, rows, through, lines)
                    txn.post("accrual", loan_id, through, lines)
                    counts["loans"] += 1
                    if loan.days_past_due >= self.loans_policy.write_off_after_days:
                        self._write_off(txn, line, loan, through, None)
                        counts["written_off"] += 1
                    txn.save()
            if progress:
                progress(1)
        return counts

    def write_off(self, loan_id: str, key: str, at: dt.datetime | None = None) -> dict[str, Any]:
        day = self.business_date(at)

        def work(txn: Txn) -> dict[str, Any]:
            line, loan, rows = self._loan_accrued(txn, loan_id, day)
            amount = self._write_off(txn, line, loan, day, key)
            return {"loan_id": loan_id, "written_off": str(self.money.from_minor(amount)), "loan": self._loan_view(loan, rows)}

        return self._once(key, "write_off", {"loan_id": loan_id, "day": day.isoformat()}, work)

    def _write_off(self, txn: Txn, line: Record, loan: Record, day: dt.date, key: str | None) -> int:
        lines = Lines()
        principal = loan.principal_outstanding
        amount = self.servicer.write_off(loan, lines)
        txn.post("write_off", loan.loan_id, day, lines, key)
        line.used_minor -= principal
        line.status = "frozen"  # no new drawdowns after a loss
        loan.closed_at = dt.datetime.now(dt.timezone.utc)
        return amount

    # ---- reads ---------------------------------------------------------------------------------------
    def _loan_view(self, loan: Any, rows: list[Any]) -> dict[str, Any]:
        m = self.money.from_minor
        return {
            "loan_id": loan.loan_id, "line_id": loan.line_id, "user_id": loan.user_id, "product_id": loan.product_id,
            "status": loan.status, "principal": str(m(loan.principal_minor)), "method": loan.method, "term_months": loan.term_months,
            "daily_rate": loan.daily_rate, "apr": loan.apr, "start_date": loan.start_date.isoformat(), "maturity_date": loan.maturity_date.isoformat(),
            "accrued_through": loan.accrued_through.isoformat(), "days_past_due": loan.days_past_due, "bucket": loan.bucket,
            "balances": {
                "principal": str(m(loan.principal_outstanding)), "interest": str(m(loan.interest_receivable)),
                "penalty": str(m(loan.penalty_receivable)), "fee": str(m(loan.fee_receivable)),
            },
            "contract_sha256": loan.contract_sha256,
            "installments": [
                {
                    "number": i.number, "due_date": i.due_date.isoformat(), "principal": str(m(i.principal_minor)), "interest": str(m(i.interest_minor)),
                    "fee": str(m(i.fee_minor)), "principal_paid": str(m(i.principal_paid)), "interest_paid": str(m(i.interest_paid)), "fee_paid": str(m(i.fee_paid)),
                }
                for i in rows
            ],
        }

    def loan(self, loan_id: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            loan = conn.execute(select(LOANS).where(LOANS.c.loan_id == loan_id)).first()
            if loan is None:
                raise LedgerError("unknown_loan", f"no loan {loan_id!r}", 404)
            rows = conn.execute(select(INSTALLMENTS).where(INSTALLMENTS.c.loan_id == loan_id).order_by(INSTALLMENTS.c.number)).all()
        return self._loan_view(loan, rows)

    def contract(self, loan_id: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = conn.execute(select(CONTRACTS).where(CONTRACTS.c.loan_id == loan_id)).first()
        if row is None:
            raise LedgerError("unknown_loan", f"no contract for loan {loan_id!r}", 404)
        return {"loan_id": loan_id, "sha256": row.sha256, "terms": json.loads(row.terms_json), "text_zh": row.text_zh, "text_en": row.text_en}

    def buckets(self) -> dict[str, str]:
        """Each loan's delinquency bucket as of its last accrual."""
        with self.engine.connect() as conn:
            return dict(conn.execute(select(LOANS.c.loan_id, LOANS.c.bucket)).all())

    def portfolio(self) -> list[dict[str, Any]]:
        """Loans by status and delinquency bucket: how many, and their balances."""
        c = LOANS.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    c.status, c.bucket, func.count(), func.sum(c.principal_minor), func.sum(c.principal_outstanding),
                    func.sum(c.interest_receivable), func.sum(c.penalty_receivable), func.sum(c.fee_receivable),
                ).group_by(c.status, c.bucket).order_by(c.status, c.bucket)
            ).all()
        m = self.money.from_minor
        return [
            {
                "status": status, "bucket": bucket, "loans": count, "principal": m(int(principal)), "principal_outstanding": m(int(outstanding)),
                "interest_receivable": m(int(interest)), "penalty_receivable": m(int(penalty)), "fee_receivable": m(int(fee)),
            }
            for status, bucket, count, principal, outstanding, interest, penalty, fee in rows
        ]

    def trial_balance(self) -> dict[str, Decimal]:
        """Each account's balance (debits minus credits), from the journal."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(POSTINGS.c.account, func.sum(POSTINGS.c.debit_minor), func.sum(POSTINGS.c.credit_minor)).group_by(POSTINGS.c.account)).all()
        return {account: self.money.from_minor(int(d or 0) - int(c or 0)) for account, d, c in sorted(rows)}


def _insert_ignoring_duplicates(dialect: str) -> Callable[[Connection, dict[str, Any]], bool]:
    """INSERT the key unless it exists; True when this call inserted it."""
    if dialect in ("postgresql", "sqlite"):
        module = __import__(f"sqlalchemy.dialects.{dialect}", fromlist=["insert"])
        statement = module.insert(KEYS).on_conflict_do_nothing(index_elements=["key"]).returning(KEYS.c.key)

        def claim(conn: Connection, row: dict[str, Any]) -> bool:
            return conn.execute(statement, row).first() is not None

        return claim

    def plain(conn: Connection, row: dict[str, Any]) -> bool:  # other databases: a duplicate raises IntegrityError
        conn.execute(insert(KEYS), row)
        return True

    return plain
