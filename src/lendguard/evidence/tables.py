"""The evidence log's tables in the catalogue: the leaf index, the committed size, signed tree heads and keys.

A leaf counts only once its `evidence_leaves` row and the new `evidence_state.tree_size` are
committed, in the same transaction as the tree head signed over them.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Engine

metadata = MetaData()

leaves = Table(
    "evidence_leaves",
    metadata,
    Column("leaf_index", Integer, primary_key=True, autoincrement=False),
    Column("kind", String, nullable=False),
    Column("record_id", String, nullable=False),
    Column("leaf_hash", LargeBinary(32), nullable=False),
    Column("appended_at", String, nullable=False),  # ISO 8601 UTC with Z, one per append batch
    # (record_id, kind) rather than (kind, record_id): a lookup by record id alone uses it too
    UniqueConstraint("record_id", "kind", name="uq_evidence_record_kind"),
)

state = Table(
    "evidence_state",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),  # always 1
    Column("tree_size", Integer, nullable=False),
)

tree_heads = Table(
    "evidence_tree_heads",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tree_size", Integer, nullable=False, index=True),
    Column("root_hash", String, nullable=False),
    Column("timestamp", String, nullable=False),
    Column("key_id", String, nullable=False),
    Column("signature", String, nullable=False),
)

keys = Table(
    "evidence_keys",
    metadata,
    Column("key_id", String, primary_key=True),
    Column("public_key", Text, nullable=False),
    Column("added_at", String, nullable=False),
)

ALL = [leaves, state, tree_heads, keys]


def create_tables(engine: Engine) -> None:
    metadata.create_all(engine, tables=ALL)
