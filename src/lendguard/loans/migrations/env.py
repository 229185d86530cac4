"""Alembic environment of the loan ledger: runs on the connection `loans.database` hands it."""

from __future__ import annotations

from alembic import context

from lendguard.identity import models as _identity_models  # noqa: F401  (its tables share the metadata)
from lendguard.loans.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run the ledger's migrations through lendguard.loans.database.migrate(), which passes the connection")
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
