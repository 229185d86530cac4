"""Rows read for update as plain records, and their changes written back in few statements.

The servicing rules change a loan's rows as ordinary attributes; the ORM's unit of work
costs more per repayment than the database does, so the book reads rows with Core,
remembers what they held, and writes back what changed in few statements. On PostgreSQL
each table's changed rows are one `UPDATE ... FROM unnest(arrays)` and new rows one
`INSERT ... SELECT FROM unnest(arrays)`: one round trip and one executed statement each
(an executemany runs a statement per row), with a text that does not depend on the number
of rows, so psycopg prepares it. Elsewhere, one executemany per set of changed columns.
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
    if conn.dialect.name == "postgresql":
        return _write_changes_at_once(conn, table, keys, records, before)
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for new, changed in _changes(records, before):
        by_columns[changed].append({**{f"k_{k}": new[k] for k in keys}, **{f"v_{c}": new[c] for c in changed}})
    for columns, params in by_columns.items():
        conn.execute(_update(table, keys, columns), params[0] if len(params) == 1 else params)
    return sum(len(p) for p in by_columns.values())


def _changes(records: list[Record], before: list[dict[str, Any]]) -> list[tuple[dict[str, Any], tuple[str, ...]]]:
    """Each record that changed since `before`, with the columns that changed (sorted)."""
    found = []
    for record, old in zip(records, before, strict=True):
        new = vars(record)
        changed = tuple(sorted(c for c, v in new.items() if old.get(c) != v))
        if changed:
            found.append((new, changed))
    return found


@lru_cache(maxsize=512)
def _update(table: Table, keys: tuple[str, ...], columns: tuple[str, ...]) -> Any:
    """UPDATE table SET columns WHERE keys, built once per shape (building it costs more than running it)."""
    where = [table.c[k] == bindparam(f"k_{k}") for k in keys]
    return update(table).where(*where).values({c: bindparam(f"v_{c}") for c in columns})


def _write_changes_at_once(conn: Connection, table: Table, keys: tuple[str, ...], records: list[Record], before: list[dict[str, Any]]) -> int:
    """PostgreSQL: every changed row in one UPDATE, setting the union of changed columns
    (a row's unchanged columns are rewritten with what it holds, under its row lock)."""
    changes = _changes(records, before)
    changed_rows = [new for new, _ in changes]
    columns = {c for _, changed in changes for c in changed}
    if not changed_rows:
        return 0
    ordered = tuple(sorted(columns))
    conn.exec_driver_sql(_update_from_arrays(table, keys, ordered, conn.dialect), _arrays(changed_rows, keys + ordered))
    return len(changed_rows)


def _arrays(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> tuple[list[Any], ...]:
    return tuple([row[c] for row in rows] for c in columns)


def _array_types(table: Table, columns: tuple[str, ...], dialect: Any) -> str:
    return ", ".join(f"%s::{table.c[c].type.compile(dialect=dialect)}[]" for c in columns)


@lru_cache(maxsize=1024)
def _update_from_arrays(table: Table, keys: tuple[str, ...], columns: tuple[str, ...], dialect: Any) -> str:
    """One statement text whatever the number of rows (one column array a parameter), so
    the driver caches and prepares it."""
    names = keys + columns
    return (
        f"UPDATE {table.name} AS t SET " + ", ".join(f"{c} = v.{c}" for c in columns)
        + f" FROM unnest({_array_types(table, names, dialect)}) AS v ({', '.join(names)}) WHERE "
        + " AND ".join(f"t.{k} = v.{k}" for k in keys)
    )


def insert_rows(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """INSERT `rows` (all with the same columns): one statement on PostgreSQL."""
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        conn.execute(table.insert(), rows)
        return
    columns = tuple(rows[0])
    conn.exec_driver_sql(_insert_from_arrays(table, columns, conn.dialect), _arrays(rows, columns))


@lru_cache(maxsize=256)
def _insert_from_arrays(table: Table, columns: tuple[str, ...], dialect: Any) -> str:
    return f"INSERT INTO {table.name} ({', '.join(columns)}) SELECT * FROM unnest({_array_types(table, columns, dialect)})"
