"""A finding: one violation, with its evidence, legal basis and fix, in Chinese and English.

The catalogue of rules (title, severity, legal basis, fix) lives in `rules.toml`, beside
the code, so a compliance team reviews the wording without reading Python.
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from typing import Any, Literal

from pydantic import BaseModel

Severity = Literal["critical", "high", "medium", "low"]
SEVERITY_ORDER = ("critical", "high", "medium", "low")


class Text(BaseModel):
    zh: str
    en: str


class Evidence(BaseModel):
    file: str  # the part's file (or bundle key)
    location: str | None = None  # "line 12", or a field path like "fees[0].withheld"
    quote: str | None = None  # the text or value as found


class Finding(BaseModel):
    rule: str
    severity: Severity
    title: Text
    message: Text  # what is wrong here, with the numbers
    evidence: Evidence
    legal_basis: Text
    fix: Text


@cache
def catalogue() -> dict[str, dict[str, Any]]:
    raw = resources.files("lendguard.audit").joinpath("rules.toml").read_text(encoding="utf-8")
    return tomllib.loads(raw)


def finding(rule: str, evidence: Evidence, zh: str, en: str) -> Finding:
    """A finding of `rule` from the catalogue, with this case's message."""
    entry = catalogue()[rule]
    return Finding(
        rule=rule,
        severity=entry["severity"],
        title=Text(**entry["title"]),
        message=Text(zh=zh, en=en),
        evidence=evidence,
        legal_basis=Text(**entry["legal_basis"]),
        fix=Text(**entry["fix"]),
    )


def pct(value: float | Any, places: int = 2) -> str:
    return f"{float(value) * 100:.{places}f}%"
