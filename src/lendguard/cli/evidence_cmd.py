"""`lendguard evidence ...`: prove a record is in the evidence log, verify a proof offline, audit and sync the log."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(
    help="The evidence log (append-only RFC 6962 Merkle tree): signed tree heads, inclusion and consistency proofs, offline verification, audit.",
    no_args_is_help=True,
    add_completion=False,
)

console = Console()
errors = Console(stderr=True, soft_wrap=True)

DataDir = Annotated[
    Path,
    typer.Option("--data-dir", "-d", help="Directory of the embedded stores (env LENDGUARD_DATA_DIR).", envvar="LENDGUARD_DATA_DIR"),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
DEFAULT_DATA_DIR = Path("lendguard-data")


def _fail(message: str, code: int = 2) -> typer.Exit:
    errors.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


def _print_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, ensure_ascii=False, indent=2) + "\n")


def _open(data_dir: Path):
    from lendguard.evidence import EvidenceLog

    return EvidenceLog.open(data_dir)


def _head_table(sth) -> Table:
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("tree size", f"{sth.tree_size:,}")
    table.add_row("root hash", sth.root_hash)
    table.add_row("timestamp", sth.timestamp)
    table.add_row("key id", sth.key_id)
    table.add_row("signature", sth.signature)
    return table


@app.command()
def head(data_dir: DataDir = DEFAULT_DATA_DIR, as_json: AsJson = False) -> None:
    """Print the current signed tree head."""
    from lendguard.evidence.model import to_builtins

    with _open(data_dir) as log:
        sth = log.tree_head()
    if as_json:
        _print_json(to_builtins(sth))
    else:
        console.print(_head_table(sth))


@app.command()
def prove(
    record_id: Annotated[str, typer.Argument(help="The record's id.")],
    kind: Annotated[Optional[str], typer.Option("--kind", "-k", help="The record's kind (needed when the id is logged under several kinds).")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write the bundle (JSON) to this file instead of printing it.")] = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """An inclusion bundle for a record against the current signed tree head (JSON)."""
    from lendguard.evidence import AmbiguousRecordError, UnknownRecordError
    from lendguard.evidence.model import to_builtins

    with _open(data_dir) as log:
        try:
            bundle = log.prove(record_id, kind)
        except UnknownRecordError as exc:
            raise _fail(str(exc), code=1) from exc
        except AmbiguousRecordError as exc:
            raise _fail(str(exc)) from exc
    document = to_builtins(bundle)
    if out is None:
        _print_json(document)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    errors.print(f"[green]wrote[/] inclusion bundle of {bundle.kind} {record_id!r} (leaf {bundle.leaf_index:,} of {bundle.sth.tree_size:,}) to {out}", highlight=False)


@app.command()
def verify(
    proof: Annotated[Path, typer.Option("--proof", help="The inclusion bundle (JSON, as written by `prove`).")],
    record: Annotated[Path, typer.Option("--record", help="The record (JSON) as kept in its own store.")],
    public_key: Annotated[Optional[Path], typer.Option("--public-key", help="The log's public key (PEM); without it the key inside the bundle is used.")] = None,
    as_json: AsJson = False,
) -> None:
    """Verify offline that a record is in the log: exit 0 if valid, 1 if not (never opens a data directory)."""
    from lendguard.evidence.model import to_builtins
    from lendguard.evidence.verify import parse_record, verify_inclusion_bundle

    texts = {}
    for name, path in (("proof", proof), ("record", record), ("public key", public_key)):
        if path is None:
            continue
        try:
            texts[name] = path.read_bytes()
        except OSError as exc:
            raise _fail(f"cannot read the {name} file {path}: {exc.strerror}") from exc
    try:
        parsed = parse_record(texts["record"])
    except ValueError as exc:
        raise _fail(f"{record}: {exc}") from exc
    result = verify_inclusion_bundle(texts["proof"], parsed, texts.get("public key"))
    if as_json:
        _print_json(to_builtins(result))
    elif result.ok:
        console.print(f"[bold green]VALID[/] {result.reason}", highlight=False)
        if result.key_from_bundle:
            console.print("[yellow]note:[/] checked with the key inside the bundle; pass --public-key with the log's published key to rule out a forged bundle.", highlight=False)
    else:
        console.print(f"[bold red]INVALID[/] {result.reason}", highlight=False)
    raise typer.Exit(0 if result.ok else 1)


@app.command()
def consistency(
    old: Annotated[int, typer.Option("--old", help="The older tree size.", min=0)],
    new: Annotated[Optional[int], typer.Option("--new", help="The newer tree size (default: the current size).", min=0)] = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: AsJson = False,
) -> None:
    """A proof that the log of --old leaves is a prefix of the log of --new leaves."""
    from lendguard.evidence.model import to_builtins

    with _open(data_dir) as log:
        try:
            proof = log.consistency(old, new)
        except ValueError as exc:
            raise _fail(str(exc)) from exc
    if as_json:
        _print_json(to_builtins(proof))
        return
    console.print(f"tree of {proof.old_size:,} leaves (root {proof.old_root}) is a prefix of the tree of {proof.new_size:,} (root {proof.new_root})", highlight=False)
    for node in proof.proof:
        console.print(f"  {node}", highlight=False)


@app.command()
def audit(
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: AsJson = False,
    limit: Annotated[int, typer.Option(help="Print at most this many findings (all with --json).", min=1)] = 50,
) -> None:
    """Recompute every leaf from its record and the tree from the leaves; check every signed tree head. Exit 1 on findings."""
    from lendguard.evidence.model import to_builtins
    from lendguard.evidence.sources import load_sources

    with _open(data_dir) as log:
        with console.status("auditing the evidence log"):
            report = log.audit(load_sources(data_dir))
    if as_json:
        _print_json(to_builtins(report))
    else:
        verdict = "[bold green]OK[/]" if report.ok else f"[bold red]{len(report.findings):,} finding(s)[/]"
        console.print(
            f"audit {verdict}: {report.tree_size:,} leaves, {report.leaves_checked:,} records rehashed, {report.tree_heads_checked:,} signed tree heads checked",
            highlight=False,
        )
        if report.findings:
            table = Table("problem", "leaf", "kind", "record", "message")
            for finding in report.findings[:limit]:
                index = "" if finding.leaf_index is None else f"{finding.leaf_index:,}"
                table.add_row(finding.problem, index, finding.kind or "", finding.record_id or "", finding.message)
            console.print(table)
            if len(report.findings) > limit:
                console.print(f"... and {len(report.findings) - limit:,} more (use --json for all)")
    raise typer.Exit(0 if report.ok else 1)


@app.command()
def sync(
    kind: Annotated[Optional[str], typer.Option("--kind", "-k", help="Only this kind.")] = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Append the stored records that are not leaves yet (what a crash between storing and logging left out)."""
    from lendguard.evidence.sources import load_syncers

    syncers = load_syncers()
    if kind is not None:
        if kind not in syncers:
            raise _fail(f"no syncer registered for kind {kind!r}; registered: {', '.join(sorted(syncers)) or 'none'}")
        syncers = {kind: syncers[kind]}
    if not syncers:
        console.print("no syncer registered: nothing to do")
        return
    with _open(data_dir) as log:
        for name in sorted(syncers):
            appended = syncers[name](data_dir, log)
            console.print(f"{name}: appended {appended:,} leaf(s)", highlight=False)
        console.print(f"log now holds {log.size:,} leaves", highlight=False)


if __name__ == "__main__":  # pragma: no cover
    app()
