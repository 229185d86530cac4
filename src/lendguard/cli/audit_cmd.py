"""`lendguard audit`: check a lending offering (or our own products, or the project's
corpus) for the seeds' violations; terminal, JSON and HTML reports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal, Optional

import typer
from rich.table import Table

from lendguard.cli.common import PolicyPath, _fail, _policy, console

Severity = Literal["critical", "high", "medium", "low"]


def audit_command(
    target: Annotated[Optional[Path], typer.Argument(help="An audit target: a directory of parts or one JSON/YAML bundle (docs/audit.md).")] = None,
    own: Annotated[bool, typer.Option("--own", help="Audit lendguard's own products, built from the policy and the contract templates.")] = False,
    corpus: Annotated[bool, typer.Option("--corpus", help="Run the project's corpus of audit targets and print detection and false positives per rule.")] = False,
    classifier: Annotated[bool, typer.Option("--classifier", help="Print the collection-message classifier's precision and recall on its held-out messages.")] = False,
    out: Annotated[Optional[Path], typer.Option(help="Write audit.json and audit.html here (corpus: corpus.json).")] = None,
    lang: Annotated[str, typer.Option(help="Language of the terminal messages: en or zh.")] = "en",
    fail_on: Annotated[Optional[str], typer.Option("--fail-on", help="Exit 1 when a finding of this severity or worse is found: critical, high, medium, low.")] = None,
    policy: PolicyPath = None,
) -> None:
    """Check a lending product, its mini-program and its contracts for violations (SPEC §5)."""
    from lendguard.audit.engine import run_audit
    from lendguard.audit.findings import SEVERITY_ORDER
    from lendguard.audit.report import print_report, write_report
    from lendguard.audit.target import AuditTargetError, load_target

    if sum([target is not None, own, corpus, classifier]) != 1:
        raise _fail("give one of: TARGET, --own, --corpus, --classifier")
    if lang not in ("en", "zh"):
        raise _fail(f"--lang is en or zh, not {lang!r}")
    if fail_on is not None and fail_on not in SEVERITY_ORDER:
        raise _fail(f"--fail-on is one of {', '.join(SEVERITY_ORDER)}, not {fail_on!r}")
    loaded = _policy(policy)
    if corpus:
        return _corpus(loaded, out)
    if classifier:
        return _classifier(loaded, out)
    if own:
        from lendguard.audit.own import own_targets

        targets = own_targets(loaded)
    else:
        try:
            targets = [load_target(target)]
        except AuditTargetError as exc:
            raise _fail(str(exc)) from exc
    worst = None
    for one in targets:
        report = run_audit(one, loaded)
        print_report(report, console, lang)
        if out is not None:
            where = out / one.root.name if len(targets) > 1 else out
            for kind, path in write_report(report, where).items():
                console.print(f"  {kind:5} {path}")
        for finding in report.findings:
            if worst is None or SEVERITY_ORDER.index(finding.severity) < SEVERITY_ORDER.index(worst):
                worst = finding.severity
    if fail_on is not None and worst is not None and SEVERITY_ORDER.index(worst) <= SEVERITY_ORDER.index(fail_on):
        raise typer.Exit(1)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _corpus(policy, out: Path | None) -> None:
    from lendguard.audit.corpus import corpus_root, evaluate_corpus

    with console.status("auditing the corpus") as status:
        result = evaluate_corpus(policy, progress=lambda name: status.update(f"audited {name}"))
    summary = result.summary()
    table = Table(title=f"The audit corpus ({corpus_root()}): {summary['targets']} targets")
    for column in ("rule", "expected", "detected", "detection", "false positives"):
        table.add_column(column, justify="left" if column == "rule" else "right")
    for rule, score in summary["rules"].items():
        table.add_row(rule, str(score["expected"]), str(score["detected"]), _pct(score["detection_rate"]), str(score["false_positives"]))
    console.print(table)
    contract = summary["contract_review"]
    console.print(
        f"all rules: {_pct(summary['detection_rate'])} of {summary['expected_findings']} expected findings detected, "
        f"{summary['false_positives']} false positive(s); compliant targets clean: {summary['compliant_targets_clean']}/{summary['compliant_targets']}"
    )
    console.print(
        f"contract review (AU-CT-01..04): {_pct(contract['detection_rate'])} detected ({contract['detected']}/{contract['expected']}), "
        f"{contract['false_positives']} false positive(s); the seed cites {contract['seed_cites']:.1%}"
    )
    for miss in summary["misses"]:
        console.print(f"[yellow]{miss['target']}[/]: missed {miss['missed'] or '-'}, unexpected {miss['unexpected'] or '-'}")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "corpus.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf-8")
        console.print(f"  json  {out / 'corpus.json'}")


def _classifier(policy, out: Path | None) -> None:
    from lendguard.audit.collection_classifier import evaluate

    report = evaluate(policy.audit.collection.min_classifier_probability)
    table = Table(title=f"Collection-message classifier, held-out groups: {report['test_messages']} test / {report['train_messages']} train messages")
    for column in ("reader", "language", "messages", "violating", "precision", "recall"):
        table.add_column(column)
    for reader in ("combined", "lexicon", "model"):
        for lang, row in report[reader].items():
            table.add_row(reader, lang, str(row["messages"]), str(row["violating"]), _pct(row["precision"]), _pct(row["recall"]))
    console.print(table)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "classifier.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
