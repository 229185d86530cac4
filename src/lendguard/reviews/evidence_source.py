"""Where the evidence audit reads review actions back from, to recompute their leaf hashes."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from lendguard.reviews import store as db

EVIDENCE_KIND = "review_action"


def review_action_records(data_dir: str | Path) -> Callable[[Sequence[str]], Mapping[str, Mapping[str, Any]]]:
    """The stored actions by id, in exactly the form the review service appended them."""
    from lendguard.store.catalog import catalog_engine

    engine = catalog_engine(Path(data_dir))
    db.create_tables(engine)

    def records(action_ids: Sequence[str]) -> Mapping[str, Mapping[str, Any]]:
        with engine.connect() as conn:
            return {action_id: action.to_record() for action_id, action in db.actions_by_id(conn, action_ids).items()}

    return records


def register() -> None:
    from lendguard.evidence.sources import register_source

    register_source(EVIDENCE_KIND, review_action_records)
