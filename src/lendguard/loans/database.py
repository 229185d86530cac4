"""The ledger's database: SQLite in the data directory by default, PostgreSQL (or any
SQLAlchemy URL) when `LENDGUARD_DATABASE_URL` says so; migrated by Alembic on open.

SQLite allows one writer: every transaction starts with BEGIN IMMEDIATE, so writers
queue (up to the busy timeout) instead of failing half-way. On PostgreSQL, rows a
money movement reads and changes are locked with SELECT ... FOR UPDATE.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

DATABASE_URL_ENV = "LENDGUARD_DATABASE_URL"


def database_url(data_dir: str | Path) -> str:
    return os.environ.get(DATABASE_URL_ENV) or f"sqlite:///{Path(data_dir) / 'ledger.sqlite'}"


def has_ledger(data_dir: str | Path) -> bool:
    """Whether there is a ledger to read: an external database, or the embedded file."""
    return bool(os.environ.get(DATABASE_URL_ENV)) or (Path(data_dir) / "ledger.sqlite").exists()


def ledger_engine(url: str) -> Engine:
    """An engine for `url`, with SQLite made a queueing single writer."""
    if url.startswith("sqlite"):
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _connect(dbapi_connection, _record):
            dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" below opens transactions
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(connection):
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_size=20, max_overflow=20, pool_recycle=1800)


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(resources.files("lendguard.loans").joinpath("migrations")))
    return config


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (a no-op when it is there already)."""
    config = alembic_config()
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":  # server processes starting together migrate one at a time
            connection.execute(text("SELECT pg_advisory_xact_lock(73162026)"))
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def open_ledger(data_dir: str | Path, url: str | None = None) -> sessionmaker[Session]:
    """A session factory on the migrated ledger database."""
    engine = ledger_engine(url or database_url(data_dir))
    migrate(engine)
    return sessionmaker(engine, expire_on_commit=False)
