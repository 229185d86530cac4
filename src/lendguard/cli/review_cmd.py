"""`lendguard review ...`: request, confirm, take, verify, decide and withdraw human reviews; the overrides report.

Refused operations exit with code 2 and print the rule's error code and message. Options and
helpers (`_policy`, `_as_of`, `_fail`) are the ones every command shares (`cli/common.py`).
"""

from __future__ import annotations

import json
import sys
from decimal import Decimal, InvalidOperation
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.table import Table

import lendguard.reviews  # noqa: F401  (registers the `review_action` evidence source for `lendguard evidence audit`)
from lendguard.cli.common import (
    DEFAULT_DATA_DIR,
    AsOfOption,
    DataDir,
    PolicyPath,
    _as_of,
    _fail,
    _policy,
    console,
)

app = typer.Typer(
    help="Human review of automated decisions (PIPL art. 24 / GDPR art. 22): bounded overrides, separation of duties, evidence.",
    no_args_is_help=True,
    add_completion=False,
)

Reviewer = Annotated[str, typer.Option("--reviewer", "-r", help="The reviewer acting (authentication comes later).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
ReviewId = Annotated[str, typer.Argument(help="The review's id (rv-...).")]


class UserKind(str, Enum):
    user_request = "user_request"
    automated_refusal = "automated_refusal"


class Method(str, Enum):
    face = "face"
    sms = "sms"
    document = "document"


class OutcomeChoice(str, Enum):
    upheld = "upheld"
    overridden = "overridden"


class Level(str, Enum):
    R0 = "R0"
    R1 = "R1"
    R2 = "R2"
    R3 = "R3"


def _service(data_dir: Path, policy: Path | None):
    from lendguard.reviews.service import ReviewService

    return ReviewService.open(data_dir, _policy(policy))


def _decision(user_id: str, data_dir: Path, service, as_of) -> dict:
    """The decision under review, as `lendguard explain` computes it."""
    from lendguard.store.events import EventStore
    from lendguard.visibility.service import VisibilityService

    decision = VisibilityService(EventStore(data_dir), service.policy).decision(user_id, _as_of(as_of, service.policy, data_dir))
    if decision is None:
        raise _fail(f"unknown_user: no events for user {user_id!r} in {data_dir}")
    return decision


def _run(operation):
    """Run a review operation; a refusal exits 2 with its code and message."""
    from lendguard.reviews.domain import ReviewError

    try:
        return operation()
    except ReviewError as exc:
        extra = f" ({', '.join(f'{k}={v}' for k, v in exc.details.items())})" if exc.details else ""
        raise _fail(f"{exc.code}: {exc.message}{extra}") from exc


def _console() -> Console:
    """Wide enough for the tables, like `lendguard explain`."""
    return Console(width=max(console.width, 140))


def _print_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, ensure_ascii=False, indent=2) + "\n")


def _show(service, review, as_json: bool, with_actions: bool = False) -> None:
    from lendguard.reviews.documents import review_document
    from lendguard.reviews.service import utcnow

    actions = service.actions(review.review_id) if with_actions else None
    document = review_document(review, service.policy, utcnow(), actions)
    if as_json:
        _print_json(document)
        return
    console = _console()
    console.print(
        f"review [bold]{review.review_id}[/]  user {review.user_id}  {review.kind}  [bold]{review.status}[/]"
        + (f"  reviewer {review.reviewer}" if review.reviewer else "")
        + (f"  outcome [bold]{review.outcome}[/]" if review.outcome else ""),
        highlight=False,
    )
    if review.status == "awaiting_confirmation":
        console.print("  touches the user's social graph: waits for the user's second confirmation (`lendguard review confirm`)")
    if review.opens_at and review.status == "requested":
        console.print(f"  cooling-off: reviewers may take it from {review.opens_at.isoformat()}")
    console.print(f"  due {document['due_at']}" + ("  [bold red]OVERDUE[/]" if document["overdue"] else ""), highlight=False)
    snapshot = review.decision
    console.print(
        f"  decision under review: {'visible' if snapshot.visible else 'hidden'}, as of {snapshot.as_of}, "
        f"policy {snapshot.policy_version} ({snapshot.policy_sha256[:12]})",
        highlight=False,
    )
    not_passed = ", ".join(f"{code} {check['status']}" for code, check in snapshot.checks.items())
    console.print(f"  checks not passed: {not_passed or '-'}", highlight=False)
    if review.changes:
        console.print(f"  changes: {json.dumps(review.changes, ensure_ascii=False)}  reason code {review.reason_code}", highlight=False)
    if actions:
        table = Table(title="action log")
        for column in ("#", "action", "actor", "at", "details"):
            table.add_column(column, overflow="fold")
        for action in actions:
            details = {k: v for k, v in action.details.items() if k != "decision"}  # the decision is shown above
            table.add_row(str(action.seq), action.action, action.actor, action.at.isoformat(), json.dumps(details, ensure_ascii=False))
        console.print(table)


@app.command()
def request(
    user_id: Annotated[str, typer.Argument(help="The user asking for a human review.")],
    kind: Annotated[UserKind, typer.Option(help="A re-review request, or a refusal of the automated decision.")] = UserKind.user_request,
    reason: Annotated[Optional[str], typer.Option(help="The user's words.")] = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    policy: PolicyPath = None,
    as_of: AsOfOption = None,
    as_json: AsJson = False,
) -> None:
    """The user asks for a human review of their current decision (at most N per calendar year)."""
    service = _service(data_dir, policy)
    decision = _decision(user_id, data_dir, service, as_of)
    review = _run(lambda: service.request(user_id, decision, kind=kind.value, reason=reason))
    _show(service, review, as_json)


@app.command(name="open-r2")
def open_r2(
    user_id: Annotated[str, typer.Argument(help="A user at risk level R2.")],
    opened_by: Annotated[str, typer.Option("--by", help="Who opens it (may not review it).")] = "system",
    data_dir: DataDir = DEFAULT_DATA_DIR,
    policy: PolicyPath = None,
    as_of: AsOfOption = None,
    as_json: AsJson = False,
) -> None:
    """Open the second verification and human review a user at R2 needs."""
    service = _service(data_dir, policy)
    decision = _decision(user_id, data_dir, service, as_of)
    review = _run(lambda: service.open_r2(user_id, decision, opened_by=opened_by))
    _show(service, review, as_json)


@app.command()
def confirm(review_id: ReviewId, data_dir: DataDir = DEFAULT_DATA_DIR, policy: PolicyPath = None, as_json: AsJson = False) -> None:
    """The user's second confirmation of a review touching their social graph; cooling-off starts."""
    service = _service(data_dir, policy)
    _show(service, _run(lambda: service.confirm(review_id)), as_json)


@app.command(name="list")
def list_reviews(
    status: Annotated[Optional[str], typer.Option(help="Only reviews in this status.")] = None,
    user: Annotated[Optional[str], typer.Option(help="Only this user's reviews.")] = None,
    kind: Annotated[Optional[str], typer.Option(help="Only this kind.")] = None,
    reviewer: Annotated[Optional[str], typer.Option(help="Only reviews taken by this reviewer.")] = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    policy: PolicyPath = None,
    as_json: AsJson = False,
) -> None:
    """Reviews, oldest first, with their deadlines."""
    from lendguard.reviews.documents import review_document
    from lendguard.reviews.service import utcnow

    service = _service(data_dir, policy)
    now = utcnow()
    found = [review_document(r, service.policy, now) for r in service.find(status=status, user_id=user, kind=kind, reviewer=reviewer)]
    if as_json:
        _print_json(found)
        return
    console = _console()
    table = Table(title=f"{len(found)} review(s)")
    for column in ("review", "user", "kind", "status", "requested (UTC)", "reviewer", "outcome", "due (UTC)"):
        table.add_column(column)
    for d in found:
        due = d["due_at"][:16] + (" [bold red]overdue[/]" if d["overdue"] else "")
        table.add_row(d["review_id"], d["user_id"], d["kind"], d["status"], d["requested_at"][:16], d["reviewer"] or "-", d["outcome"] or "-", due)
    console.print(table)


@app.command()
def show(review_id: ReviewId, data_dir: DataDir = DEFAULT_DATA_DIR, policy: PolicyPath = None, as_json: AsJson = False) -> None:
    """One review with the decision under review and its action log."""
    service = _service(data_dir, policy)
    _show(service, _run(lambda: service.get(review_id)), as_json, with_actions=True)


@app.command()
def take(review_id: ReviewId, reviewer: Reviewer, data_dir: DataDir = DEFAULT_DATA_DIR, policy: PolicyPath = None, as_json: AsJson = False) -> None:
    """A reviewer takes a queued review (not their own; after any cooling-off); only they may decide it."""
    service = _service(data_dir, policy)
    _show(service, _run(lambda: service.take(review_id, reviewer)), as_json)


@app.command()
def verify(
    review_id: ReviewId,
    reviewer: Reviewer,
    method: Annotated[Method, typer.Option(help="How the second verification was done.")],
    passed: Annotated[bool, typer.Option("--passed/--failed", help="Whether it passed.")],
    data_dir: DataDir = DEFAULT_DATA_DIR,
    policy: PolicyPath = None,
    as_json: AsJson = False,
) -> None:
    """Record a second verification (needed before lowering R2)."""
    service = _service(data_dir, policy)
    _show(service, _run(lambda: service.verify(review_id, reviewer, method.value, passed)), as_json)


@app.command()
def decide(
    review_id: ReviewId,
    reviewer: Reviewer,
    outcome: Annotated[OutcomeChoice, typer.Option(help="Uphold the system's decision or override it.")],
    clear_check: Annotated[Optional[list[str]], typer.Option("--clear-check", help="A check to clear (repeatable; only overridable ones).")] = None,
    risk_level: Annotated[Optional[Level], typer.Option(help="Lower the user's risk level to this.")] = None,
    reason_code: Annotated[Optional[str], typer.Option(help="Override reason code from the policy (e.g. HR01).")] = None,
    system_line: Annotated[Optional[str], typer.Option(help="The system's credit line (with --new-line).")] = None,
    new_line: Annotated[Optional[str], typer.Option(help="The credit line decided (within the policy's share of the system's).")] = None,
    note: Annotated[Optional[str], typer.Option(help="The reviewer's note.")] = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    policy: PolicyPath = None,
    as_json: AsJson = False,
) -> None:
    """Decide a review you took: uphold, or override within the policy's bounds with a reason code."""
    from lendguard.reviews.domain import LineChange

    line = None
    if (system_line is None) != (new_line is None):
        raise _fail("invalid_line: give both --system-line and --new-line, or neither")
    if system_line is not None and new_line is not None:
        try:
            line = LineChange(Decimal(system_line), Decimal(new_line))
        except InvalidOperation as exc:
            raise _fail(f"invalid_line: not an amount: {system_line!r} / {new_line!r}") from exc
    service = _service(data_dir, policy)
    review = _run(
        lambda: service.decide(
            review_id,
            reviewer,
            outcome.value,
            clear_checks=clear_check or [],
            risk_level=None if risk_level is None else risk_level.value,
            line_change=line,
            reason_code=reason_code,
            note=note,
        )
    )
    _show(service, review, as_json)


@app.command()
def withdraw(
    review_id: ReviewId,
    reason: Annotated[Optional[str], typer.Option(help="Why the user withdraws.")] = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    policy: PolicyPath = None,
    as_json: AsJson = False,
) -> None:
    """The user withdraws an open review (it still counts towards the yearly limit)."""
    service = _service(data_dir, policy)
    _show(service, _run(lambda: service.withdraw(review_id, reason=reason)), as_json)


@app.command()
def report(
    as_json: AsJson = False,
    min_decided: Annotated[Optional[int], typer.Option(help="Decided reviews a reviewer needs before being flagged.", min=1)] = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    policy: PolicyPath = None,
) -> None:
    """Overrides per reviewer against the team (outliers flagged) and overdue reviews."""
    from lendguard.reviews.report import render_report

    service = _service(data_dir, policy)
    document = service.report(min_decided=min_decided)
    if as_json:
        _print_json(document)
    else:
        render_report(document, _console())


if __name__ == "__main__":  # pragma: no cover
    app()
