"""Rows read for update as plain records, and their changes written back in few statements.

The servicing rules change a loan's rows as ordinary attributes; the ORM's unit of work
costs more per repayment than the database does, so the book reads rows with Core,
remembers what they held, and writes back one UPDATE per table (executemany over the
rows that changed the same columns).
"""

from __future__ import annotations

from collections import defaultdict
from functools import lru_cache
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Table, bindparam, update
from sqlalchemy.engine import Connection


class Record(SimpleNamespace):
    """A row: one attribute per column."""


def read(conn: Connection, statement: Any, params: dict[str, Any] | None = None) -> list[Record]:
    return [Record(**row._mapping) for row in conn.execute(statement, params or {})]


def snapshot(records: list[Record]) -> list[dict[str, Any]]:
    return [dict(vars(r)) for r in records]


def write_changes(conn: Connection, table: Table, keys: tuple[str, ...], records: list[Record], before: list[dict[str, Any]]) -> int:
    """UPDATE what changed since `before`; returns the rows written."""
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for record, old in zip(records, before, strict=True):
        new = vars(record)
        changed = tuple(sorted(c for c, v in new.items() if old.get(c) != v))
        if changed:
            by_columns[changed].append({**{f"k_{k}": new[k] for k in keys}, **{f"v_{c}": new[c] for c in changed}})
    for columns, params in by_columns.items():
        conn.execute(_update(table, keys, columns), params[0] if len(params) == 1 else params)
    return sum(len(p) for p in by_columns.values())


@lru_cache(maxsize=512)
def _update(table: Table, keys: tuple[str, ...], columns: tuple[str, ...]) -> Any:
    """UPDATE table SET columns WHERE keys, built once per shape (building it costs more than running it)."""
    where = [table.c[k] == bindparam(f"k_{k}") for k in keys]
    return update(table).where(*where).values({c: bindparam(f"v_{c}") for c in columns})
