"""`lendguard fraud rings`: the rings and cash-out gangs the fund-flow graph job found, largest first."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated

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
    console,
)

if TYPE_CHECKING:
    from lendguard.fraud.graph import Ring
    from lendguard.fraud.graph_job import FoundRing

Limit = Annotated[int, typer.Option("--limit", "-n", min=1, help="Show at most this many rings.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
Run = Annotated[bool, typer.Option("--run", help="Run the graph job first (reads transfers and logins through the consent gate).")]


def rings(
    data_dir: DataDir = DEFAULT_DATA_DIR,
    policy: PolicyPath = None,
    as_of: AsOfOption = None,
    limit: Limit = 10,
    json_out: AsJson = False,
    run: Run = False,
) -> None:
    """Rings found by the fund-flow graph job, largest first; --run runs the job first."""
    from lendguard.evidence.shared import SharedLog
    from lendguard.fraud.book import RiskBook
    from lendguard.fraud.disposition import open_r2_reviews
    from lendguard.fraud.graph import GraphRules
    from lendguard.fraud.graph_job import flagged_accounts, list_rings, run_graph_job
    from lendguard.store.events import EventStore

    if not data_dir.exists():
        raise _fail(f"no data directory at {data_dir}")
    store = EventStore(data_dir)
    if run:
        loaded = _policy(policy)
        at = _as_of(as_of, loaded, data_dir)
        result = run_graph_job(store, loaded, at, flagged_accounts(store), GraphRules.from_policy(loaded), actor="cli")
        evidence = SharedLog(data_dir)
        made = RiskBook(store.engine, loaded, evidence=evidence).apply(result.signals)
        evidence.close()
        open_r2_reviews(data_dir, loaded, made)
        if not json_out:
            console.print(
                f"graph job at {at.at:%Y-%m-%d %H:%M} UTC: {len(result.rings)} rings, {len(result.signals)} member signals, "
                f"{len(made)} new risk transitions"
            )
    found = list_rings(store.engine, limit)
    if json_out:
        document = [{"found_at": f.found_at.isoformat(), **_ring_document(f.ring)} for f in found]
        sys.stdout.write(json.dumps(document, ensure_ascii=False, indent=2) + "\n")
        return
    if not found:
        console.print("no rings found (run the job with --run)")
        return
    console.print(_table(found))


def _ring_document(ring: Ring) -> dict:
    return {
        "ring_id": ring.ring_id,
        "kind": ring.kind,
        "size": ring.size,
        "edges": ring.edges,
        "density": round(ring.density, 4),
        "amount": ring.amount,
        "members": list(ring.members),
        "flagged": list(ring.flagged),
        "users": list(ring.users),
        "evidence": list(ring.evidence),
    }


def _table(found: list[FoundRing]) -> Table:
    table = Table(title="fund-flow rings, largest first (--json for members and evidence)")
    table.add_column("ring", no_wrap=True, min_width=21)  # ids are copied into other commands: never cut
    table.add_column("found at (UTC)", no_wrap=True)
    table.add_column("kind")
    table.add_column("members", justify="right")
    table.add_column("flagged")
    table.add_column("density", justify="right")
    table.add_column("amount", justify="right")
    for f in found:
        r = f.ring
        table.add_row(
            r.ring_id, f"{f.found_at:%Y-%m-%d %H:%M}", r.kind, str(r.size), ", ".join(r.flagged),
            f"{r.density:.2f}", f"{r.amount:,.2f}",
        )
    return table


def register(app: typer.Typer) -> None:
    """Mount the command as `rings` on `app` (the `fraud` group)."""
    app.command("rings")(rings)
