"""The embedded event store: Parquet part files per event type, committed through the catalogue.

Ingest is idempotent by `event_id`: an event already stored is reported as a
duplicate and not stored again, so a client may safely retry a batch.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from lendguard.events.columns import empty_frame, frame_schema
from lendguard.events.schema import EVENT_TYPES
from lendguard.store.catalog import batches, catalog_engine, event_ids, utcnow

_ID_CHUNK = 500  # SQLite's bound-parameter limit is well above this
USERS = "_users"  # pseudo event type: the distinct user ids of each batch (the user registry)


@dataclass(frozen=True)
class StoreResult:
    stored: int
    duplicates: list[str]
    batch_id: str


def _new_batch_id() -> str:
    return f"{utcnow():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:12]}"


class EventStore:
    """Append-only store of validated events under `data_dir`."""

    def __init__(self, data_dir: str | Path):
        self.data_dir = Path(data_dir)
        self.events_dir = self.data_dir / "events"
        self.engine = catalog_engine(self.data_dir)

    # ---- writing -------------------------------------------------------------------
    def append(self, frames: dict[str, pl.DataFrame], source: str) -> StoreResult:
        """Store typed frames (one per event type) as one batch, skipping known event ids."""
        for attempt in range(5):
            try:
                return self._append_once(frames, source)
            except IntegrityError:
                # A concurrent writer stored one of these ids between our check and commit.
                if attempt == 4:
                    raise
        raise AssertionError("unreachable")

    def _append_once(self, frames: dict[str, pl.DataFrame], source: str) -> StoreResult:
        batch_id = _new_batch_id()
        incoming = [eid for frame in frames.values() for eid in frame["event_id"].to_list()]
        known = self._known_ids(incoming)
        duplicates = [eid for eid in incoming if eid in known]
        seen: set[str] = set(known)
        fresh: dict[str, pl.DataFrame] = {}
        for event_type, frame in frames.items():
            # Drop ids already stored and repeats inside the batch itself (first one wins).
            keep = []
            for eid in frame["event_id"].to_list():
                if eid in seen:
                    keep.append(False)
                    if eid not in known:
                        duplicates.append(eid)
                else:
                    seen.add(eid)
                    keep.append(True)
            fresh[event_type] = frame.filter(pl.Series(keep, dtype=pl.Boolean))
        written: list[tuple[str, Path, int]] = []
        try:
            written = self._write_parts(batch_id, fresh)
            with self.engine.begin() as conn:
                self._record_parts(conn, batch_id, written, source, ids_registered=True)
                new_ids = [eid for eid in seen if eid not in known]
                for start in range(0, len(new_ids), _ID_CHUNK):
                    chunk = new_ids[start : start + _ID_CHUNK]
                    conn.execute(insert(event_ids), [{"event_id": e, "batch_id": batch_id} for e in chunk])
        except BaseException:
            for _, path, _ in written:
                path.unlink(missing_ok=True)
            raise
        stored = sum(rows for event_type, _, rows in written if event_type != USERS)
        return StoreResult(stored=stored, duplicates=duplicates, batch_id=batch_id)

    def append_bulk(self, frames: dict[str, pl.DataFrame], source: str) -> str:
        """Store a trusted bulk load (the synthetic generator) without registering ids.

        The caller guarantees the ids are new; this keeps a 50-million-event load fast.
        """
        batch_id = _new_batch_id()
        written = self._write_parts(batch_id, frames)
        with self.engine.begin() as conn:
            self._record_parts(conn, batch_id, written, source, ids_registered=False)
        return batch_id

    def _write_parts(self, batch_id: str, frames: dict[str, pl.DataFrame]) -> list[tuple[str, Path, int]]:
        """One part file per non-empty type, plus the batch's user-registry part."""
        present = {t: f for t, f in frames.items() if f.height}
        written: list[tuple[str, Path, int]] = []
        try:
            for event_type, frame in present.items():
                schema = frame_schema(event_type)
                ordered = frame.select(schema.names()).cast(dict(schema)).sort("user_id", "ts")
                written.append((event_type, self._write_atomically(ordered, event_type, batch_id), frame.height))
            if present:
                # The batch's distinct user ids: a population's users without a scan of every event.
                users = pl.concat([f.select("user_id") for f in present.values()]).unique().sort("user_id")
                written.append((USERS, self._write_atomically(users, USERS, batch_id), users.height))
        except BaseException:
            for _, path, _ in written:
                path.unlink(missing_ok=True)
            raise
        return written

    def _write_atomically(self, frame: pl.DataFrame, folder_name: str, batch_id: str) -> Path:
        """Write, fsync, then rename into place: a part file is either whole or absent."""
        folder = self.events_dir / folder_name
        folder.mkdir(parents=True, exist_ok=True)
        final = folder / f"{batch_id}.parquet"
        temporary = folder / f".{batch_id}.parquet.tmp"
        frame.write_parquet(temporary, compression="zstd", row_group_size=65_536, statistics=True)
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, final)
        return final

    def _record_parts(self, conn, batch_id: str, written: list[tuple[str, Path, int]], source: str, ids_registered: bool) -> None:
        now = utcnow()
        for event_type, path, rows in written:
            conn.execute(
                insert(batches).values(
                    batch_id=batch_id,
                    event_type=event_type,
                    part_path=str(path.relative_to(self.data_dir)),
                    rows=rows,
                    source=source,
                    ids_registered=ids_registered,
                    created_at=now,
                )
            )

    def scan_users(self) -> pl.LazyFrame | None:
        """Every user any stored event names, from the per-batch registry; None when some
        batch has no registry part (a store written before the registry existed)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(batches.c.batch_id, batches.c.event_type, batches.c.part_path)).all()
        batch_ids = {r.batch_id for r in rows}
        registry = [self.data_dir / r.part_path for r in rows if r.event_type == USERS]
        if not registry or len(registry) != len(batch_ids):
            return None
        return pl.scan_parquet([str(f) for f in registry]).select("user_id").unique()

    def _known_ids(self, ids: list[str]) -> set[str]:
        known: set[str] = set()
        unique = list(dict.fromkeys(ids))
        with self.engine.connect() as conn:
            for start in range(0, len(unique), _ID_CHUNK):
                chunk = unique[start : start + _ID_CHUNK]
                rows = conn.execute(select(event_ids.c.event_id).where(event_ids.c.event_id.in_(chunk)))
                known.update(r[0] for r in rows)
        return known

    # ---- reading -------------------------------------------------------------------
    def part_files(self, event_type: str) -> list[Path]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(batches.c.part_path).where(batches.c.event_type == event_type).order_by(batches.c.batch_id)
            )
            return [self.data_dir / r[0] for r in rows]

    def scan(self, event_type: str) -> pl.LazyFrame:
        """All stored events of one type, lazily (an empty frame of the right schema if none)."""
        files = self.part_files(event_type)
        if not files:
            return empty_frame(event_type).lazy()
        return pl.scan_parquet([str(f) for f in files], schema=frame_schema(event_type))

    def scan_all(self) -> dict[str, pl.LazyFrame]:
        return {t: self.scan(t) for t in EVENT_TYPES}

    def user_events(self, user_id: str) -> dict[str, pl.DataFrame]:
        """One user's events of every type (the single-user path of the engines)."""
        return {t: lf.filter(pl.col("user_id") == user_id).collect() for t, lf in self.scan_all().items()}

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(batches.c.event_type, batches.c.rows).where(batches.c.event_type != USERS))
            totals: dict[str, int] = {}
            for event_type, rows_in_part in rows:
                totals[event_type] = totals.get(event_type, 0) + rows_in_part
            return totals

    def is_empty(self) -> bool:
        return not self.counts()

    # ---- deletion (retention) ---------------------------------------------------------
    def delete_rows(self, event_type: str, doomed: pl.Expr) -> int:
        """Delete the rows of one type for which `doomed` holds; returns how many.

        Each affected part is rewritten without them under a new name, the catalogue
        is switched to the new part in one transaction, and only then is the old file
        removed: a crash leaves either the old part or the new one in force, and the
        other file is an orphan that `recover` removes.
        """
        deleted = 0
        with self.engine.connect() as conn:
            parts = conn.execute(
                select(batches.c.batch_id, batches.c.part_path).where(batches.c.event_type == event_type)
            ).all()
        for batch_id, part_path in parts:
            old = self.data_dir / part_path
            frame = pl.read_parquet(old)
            if frame.height == 0:
                continue
            keep = frame.filter(~doomed.fill_null(False))
            gone = frame.height - keep.height
            if gone == 0:
                continue
            new = self._write_atomically(keep, event_type, f"{batch_id}.r{uuid.uuid4().hex[:8]}")
            try:
                with self.engine.begin() as conn:
                    conn.execute(
                        update(batches)
                        .where((batches.c.batch_id == batch_id) & (batches.c.event_type == event_type))
                        .values(part_path=str(new.relative_to(self.data_dir)), rows=keep.height)
                    )
            except BaseException:
                new.unlink(missing_ok=True)
                raise
            old.unlink(missing_ok=True)
            deleted += gone
        return deleted

    # ---- housekeeping ----------------------------------------------------------------
    def recover(self) -> list[Path]:
        """Remove part files that no committed batch refers to (a crash mid-write)."""
        committed = set()
        with self.engine.connect() as conn:
            committed = {self.data_dir / r[0] for r in conn.execute(select(batches.c.part_path))}
        orphans = [p for p in self.events_dir.glob("*/*") if p.is_file() and p not in committed]
        for path in orphans:
            path.unlink()
        return orphans

    def clear(self) -> None:
        """Forget every stored event (used by `synth --replace`)."""
        with self.engine.begin() as conn:
            conn.execute(delete(batches))
            conn.execute(delete(event_ids))
        for path in self.events_dir.glob("*/*"):
            path.unlink()
