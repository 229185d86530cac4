"""Docs: docs/events.md is generated from the schema and up to date; its JSON examples are valid events."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

from lendguard.events.schema import EVENT_TYPES
from lendguard.events.validation import EventValidator, Rejection
from lendguard.policy import load_policy

ROOT = Path(__file__).resolve().parent.parent
EVENTS_DOC = ROOT / "docs" / "events.md"
GENERATOR = ROOT / "scripts" / "events_doc.py"
REGENERATE = "docs/events.md is out of date: run `python scripts/events_doc.py` and commit the result"


def _generator():
    spec = importlib.util.spec_from_file_location("events_doc", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _json_blocks(text: str) -> list[tuple[int, str]]:
    """(line number, line) of every non-blank line inside a ```json fenced block."""
    found, inside = [], False
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("```"):
            inside = stripped == "```json" if not inside else False
            continue
        if inside and stripped:
            found.append((number, stripped))
    return found


def test_events_doc_is_up_to_date():
    assert EVENTS_DOC.exists(), REGENERATE
    expected = _generator().render()
    actual = EVENTS_DOC.read_text(encoding="utf-8")
    assert actual == expected, REGENERATE


def test_every_json_example_in_events_doc_validates():
    now = _generator().EXAMPLE_NOW
    validator = EventValidator(load_policy().events, now=now)
    examples = _json_blocks(EVENTS_DOC.read_text(encoding="utf-8"))
    assert examples, "no ```json example blocks found in docs/events.md"
    seen_types = set()
    for number, line in examples:
        outcome = validator.validate_one(line.encode(), "docs/events.md", number)
        assert not isinstance(outcome, Rejection), f"docs/events.md line {number}: {outcome.describe()}"
        seen_types.add(json.loads(line)["type"])
    assert seen_types == set(EVENT_TYPES), f"event types without an example: {sorted(set(EVENT_TYPES) - seen_types)}"


def test_every_event_type_has_a_section():
    text = EVENTS_DOC.read_text(encoding="utf-8")
    headings = set(re.findall(r"^### (\w+)$", text, flags=re.MULTILINE))
    missing = set(EVENT_TYPES) - headings
    assert not missing, f"no section for {sorted(missing)}; {REGENERATE}"


@pytest.mark.parametrize("name", ["architecture.md", "glossary.md", "policy.md", "synthetic.md"])
def test_hand_written_docs_exist(name):
    assert (ROOT / "docs" / name).exists(), f"docs/{name} is missing"


def _policy_keys(table: dict) -> set[str]:
    """Every key name in a TOML document, at any depth (inside tables and arrays of tables)."""
    keys = set()
    for key, value in table.items():
        keys.add(key)
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, dict):
                keys |= _policy_keys(item)
    return keys


def test_policy_doc_names_every_key_of_the_default_policy():
    import tomllib

    from lendguard.policy import default_policy_path

    keys = _policy_keys(tomllib.loads(default_policy_path().read_text(encoding="utf-8")))
    text = (ROOT / "docs" / "policy.md").read_text(encoding="utf-8")
    missing = sorted(k for k in keys if not any(form in text for form in (f"`{k}`", f"[{k}]", f"[{k}.", f".{k}]")))
    assert not missing, f"docs/policy.md does not explain these keys of default.toml: {missing}"
