"""Ledger databases for tests: a SQLite file, or a throwaway schema on the PostgreSQL
server at 127.0.0.1:5432 (database `test`; tests skip when no server answers)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def postgres_available() -> str | None:
    """None when the server answers, else why not."""
    try:
        import psycopg  # noqa: F401
        from sqlalchemy import create_engine, text
    except ImportError as exc:
        return f"psycopg is not installed ({exc})"
    try:
        engine = create_engine(PG_SERVER)
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 - any failure to connect means no server here
        return f"no PostgreSQL at 127.0.0.1:5432 ({type(exc).__name__})"
    return None


@contextmanager
def ledger_url(backend: str, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.sqlite'}"
        return
    why = postgres_available()
    if why:
        pytest.skip(why)
    from sqlalchemy import create_engine, text

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_SERVER)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{PG_SERVER}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
