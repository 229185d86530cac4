"""The project's corpus of audit targets: every expected finding is reported, nothing else is,
every compliant target is clean, and the CLI prints the rates (contract review beside the
seed's 98.7%)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from lendguard.audit.corpus import (
    CONTRACT_RULES,
    corpus_root,
    evaluate_corpus,
    expected_rules,
)
from lendguard.audit.findings import catalogue
from lendguard.cli.main import app as cli
from lendguard.policy import load_policy

POLICY = load_policy()


def test_the_corpus_covers_every_rule_in_several_targets():
    targets = [d for d in corpus_root().iterdir() if d.is_dir()]
    assert len(targets) >= 30
    expected = [expected_rules(d) for d in targets]
    assert sum(1 for rules in expected if not rules) >= 5  # compliant targets
    assert sum(1 for rules in expected if len(rules) >= 2) >= 10  # several violations at once
    for rule in catalogue():
        assert sum(rule in rules for rules in expected) >= 2, rule
    assert sum(len(rules & set(CONTRACT_RULES)) for rules in expected) >= 10


def test_every_expected_finding_and_nothing_else():
    summary = evaluate_corpus(POLICY).summary()
    assert summary["misses"] == [], summary["misses"]
    assert summary["detection_rate"] == 1.0 and summary["false_positives"] == 0
    assert summary["compliant_targets_clean"] == summary["compliant_targets"] >= 5
    assert summary["contract_review"]["detection_rate"] >= summary["contract_review"]["seed_cites"]


def test_the_cli_prints_the_rates(tmp_path):
    done = CliRunner().invoke(cli, ["audit", "--corpus", "--out", str(tmp_path)])
    assert done.exit_code == 0, done.output
    assert "contract review" in done.output and "98.7%" in done.output
    saved = json.loads((tmp_path / "corpus.json").read_text(encoding="utf-8"))
    assert saved["targets"] >= 30 and set(saved["rules"]) == set(catalogue())
