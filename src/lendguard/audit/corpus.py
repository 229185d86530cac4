"""The project's corpus of audit targets with their expected findings, and how well the
auditor does on it: per rule, the targets it should flag and does (detection), and the
targets it flags but should not (false positives)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml

from lendguard.audit.engine import AuditReport, run_audit
from lendguard.audit.findings import catalogue
from lendguard.audit.target import AuditTargetError, load_target

CONTRACT_RULES = ("AU-CT-01", "AU-CT-02", "AU-CT-03", "AU-CT-04")
SEED_CONTRACT_DETECTION = 0.987  # the rate seed 000 cites for contract compliance review


def corpus_root() -> Path:
    return Path(str(resources.files("lendguard.audit").joinpath("corpus")))


def expected_rules(directory: Path) -> set[str]:
    path = directory / "expected.yaml"
    if not path.exists():
        raise AuditTargetError(f"{directory.name}: a corpus target needs expected.yaml")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    rules = {entry["rule"] for entry in data.get("findings") or []}
    unknown = rules - set(catalogue())
    if unknown:
        raise AuditTargetError(f"{directory.name}/expected.yaml: unknown rules {sorted(unknown)}")
    return rules


@dataclass
class RuleScore:
    expected: int = 0  # targets that should be flagged
    detected: int = 0  # ...and are
    false_positives: int = 0  # targets flagged that should not be

    @property
    def detection(self) -> float | None:
        return self.detected / self.expected if self.expected else None


@dataclass
class CorpusResult:
    targets: list[tuple[str, set[str], set[str]]] = field(default_factory=list)  # name, expected, found
    rules: dict[str, RuleScore] = field(default_factory=dict)

    def _total(self, rules) -> tuple[int, int, int]:
        scores = [self.rules[r] for r in rules if r in self.rules]
        return sum(s.expected for s in scores), sum(s.detected for s in scores), sum(s.false_positives for s in scores)

    def summary(self) -> dict:
        expected, detected, false = self._total(self.rules)
        c_expected, c_detected, c_false = self._total(CONTRACT_RULES)
        compliant = [t for t in self.targets if not t[1]]
        return {
            "targets": len(self.targets),
            "compliant_targets": len(compliant),
            "compliant_targets_clean": sum(1 for t in compliant if not t[2]),
            "expected_findings": expected,
            "detection_rate": detected / expected if expected else None,
            "false_positives": false,
            "contract_review": {"expected": c_expected, "detected": c_detected, "false_positives": c_false,
                                "detection_rate": c_detected / c_expected if c_expected else None, "seed_cites": SEED_CONTRACT_DETECTION},
            "rules": {r: {"expected": s.expected, "detected": s.detected, "detection_rate": s.detection, "false_positives": s.false_positives}
                      for r, s in sorted(self.rules.items())},
            "misses": [{"target": n, "missed": sorted(e - f), "unexpected": sorted(f - e)} for n, e, f in self.targets if e != f],
        }


def evaluate_corpus(policy, root: Path | None = None, progress: Callable[[str], None] | None = None) -> CorpusResult:
    root = root or corpus_root()
    result = CorpusResult(rules={rule: RuleScore() for rule in catalogue()})
    for directory in sorted(p for p in root.iterdir() if p.is_dir()):
        expected = expected_rules(directory)
        report: AuditReport = run_audit(load_target(directory), policy)
        found = report.rules_found()
        result.targets.append((directory.name, expected, found))
        for rule, score in result.rules.items():
            score.expected += rule in expected
            score.detected += rule in expected and rule in found
            score.false_positives += rule in found and rule not in expected
        if progress:
            progress(directory.name)
    return result
