"""Where audits find the records behind the leaves (record sources), and who appends what a crash left out (syncers).

A package that logs a kind registers a factory at import time:

    register_source("consent", lambda data_dir: ConsentStore(data_dir).records_by_id)

`factory(data_dir)` returns `fetch(record_ids) -> {record_id: record}` (records absent from the
store are simply left out). Packages can also advertise factories through the entry-point
group `lendguard.evidence_sources` (name = kind, value = "module:factory").

A package whose records are stored first and logged after (so a crash in between leaves a
record without a leaf) registers a syncer, run by `lendguard evidence sync`:

    register_syncer("consent", lambda data_dir, log: log_consents(EventStore(data_dir), log))

`syncer(data_dir, log) -> int` appends the kind's stored records that are not leaves yet and
returns how many; entry-point group `lendguard.evidence_syncers` works the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

RecordFetch = Callable[[Sequence[str]], Mapping[str, Mapping[str, Any]]]
SourceFactory = Callable[[Path], RecordFetch]
Syncer = Callable[[Path, Any], int]  # (data_dir, EvidenceLog) -> leaves appended
ENTRY_POINT_GROUP = "lendguard.evidence_sources"
SYNC_ENTRY_POINT_GROUP = "lendguard.evidence_syncers"

_factories: dict[str, SourceFactory] = {}
_syncers: dict[str, Syncer] = {}


def register_source(kind: str, factory: SourceFactory, replace: bool = False) -> None:
    """Register how to fetch the records of one kind; registering a kind twice needs `replace=True`."""
    if not kind:
        raise ValueError("kind must be a non-empty string")
    if kind in _factories and not replace and _factories[kind] is not factory:
        raise ValueError(f"a record source for kind {kind!r} is already registered")
    _factories[kind] = factory


def unregister_source(kind: str) -> None:
    _factories.pop(kind, None)


def registered_kinds() -> list[str]:
    _load_entry_points()
    return sorted(_factories)


def load_sources(data_dir: Path) -> dict[str, RecordFetch]:
    """Every registered kind's fetch function for one data directory."""
    _load_entry_points()
    return {kind: factory(Path(data_dir)) for kind, factory in _factories.items()}


def _load_entry_points() -> None:
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name not in _factories:
            _factories[entry.name] = entry.load()


def register_syncer(kind: str, syncer: Syncer, replace: bool = False) -> None:
    """Register how to append a kind's stored records that are not leaves yet."""
    if not kind:
        raise ValueError("kind must be a non-empty string")
    if kind in _syncers and not replace and _syncers[kind] is not syncer:
        raise ValueError(f"a syncer for kind {kind!r} is already registered")
    _syncers[kind] = syncer


def unregister_syncer(kind: str) -> None:
    _syncers.pop(kind, None)


def load_syncers() -> dict[str, Syncer]:
    """Every registered syncer, by kind."""
    for entry in entry_points(group=SYNC_ENTRY_POINT_GROUP):
        if entry.name not in _syncers:
            _syncers[entry.name] = entry.load()
    return dict(_syncers)
