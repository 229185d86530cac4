"""The evidence log: append records' leaves, sign tree heads, serve inclusion and consistency proofs.

Layout under DATA_DIR: `evidence/level_k.bin` (hash files), `evidence/append.lock`,
`evidence/signing_key.pem` (0600, or the path in LENDGUARD_EVIDENCE_KEY),
`evidence/public_key.pem`, and the `evidence_*` tables of `catalog.sqlite`.

An append, under an exclusive file lock (so processes never interleave): cut orphan hash bytes
beyond the committed size, insert the leaf rows (a duplicate aborts the whole batch), write and
fsync the new hashes of every level, then commit the new size and a freshly signed tree head in
the same transaction as the rows. A crash before that commit leaves only orphan bytes.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from lendguard.evidence import merkle, signing, tables
from lendguard.evidence.canonical import record_hash
from lendguard.evidence.hashfiles import LevelFiles
from lendguard.evidence.model import (
    AmbiguousRecordError,
    AuditReport,
    ConsistencyProof,
    DuplicateRecordError,
    InclusionBundle,
    LogIntegrityError,
    Receipt,
    SignedTreeHead,
    UnknownRecordError,
)
from lendguard.store.catalog import catalog_engine

EVIDENCE_DIR = "evidence"
RecordSource = Callable[[Sequence[str]], Mapping[str, Mapping[str, Any]]]


class EvidenceLog:
    """An append-only, tamper-evident log of record hashes (RFC 6962 Merkle tree) in one data directory."""

    def __init__(self, data_dir: Path, engine: Engine, key_path: Path):
        self.data_dir = data_dir
        self.directory = data_dir / EVIDENCE_DIR
        self.engine = engine
        self.key_path = key_path
        self.files = LevelFiles(self.directory)
        self._thread_lock = threading.RLock()
        self._lock_depth = 0
        self._lock_fd = os.open(self.directory / "append.lock", os.O_RDWR | os.O_CREAT, 0o644)
        self._key = signing.load_or_create_signing_key(key_path)
        self.public_key = self._key.public_key()
        self.public_key_pem = signing.public_key_pem(self.public_key)
        self.key_id = signing.key_id(self.public_key)
        self.orphan_bytes_removed = 0
        self._keys: dict[str, str] = {}

    # ---- opening ---------------------------------------------------------------------------
    @classmethod
    def open(cls, data_dir: Path | str, key_path: Path | str | None = None) -> EvidenceLog:
        """Open (creating as needed) the log of a data directory: files, keys and tables.

        The signing key is `key_path`, else $LENDGUARD_EVIDENCE_KEY, else
        DATA_DIR/evidence/signing_key.pem; it is created on first use.
        """
        data_dir = Path(data_dir)
        (data_dir / EVIDENCE_DIR).mkdir(parents=True, exist_ok=True)
        engine = catalog_engine(data_dir)
        tables.create_tables(engine)
        chosen = Path(key_path or os.environ.get(signing.KEY_ENV) or data_dir / EVIDENCE_DIR / "signing_key.pem")
        log = cls(data_dir, engine, chosen)
        signing.write_public_key(log.directory / "public_key.pem", log.public_key)
        with log._locked(), log.engine.begin() as conn:
            if conn.execute(select(tables.state.c.tree_size)).first() is None:
                conn.execute(insert(tables.state).values(id=1, tree_size=0))
            known = conn.execute(select(tables.keys.c.key_id).where(tables.keys.c.key_id == log.key_id)).first()
            if known is None:
                conn.execute(insert(tables.keys).values(key_id=log.key_id, public_key=log.public_key_pem, added_at=signing.utc_timestamp()))
            log.orphan_bytes_removed = log.files.truncate_to(log._committed_size(conn))
        return log

    def close(self) -> None:
        """Release the files and the database connections (safe to call twice)."""
        self.files.close()
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1
        self.engine.dispose()

    def __enter__(self) -> EvidenceLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Exclusive across threads (RLock) and processes (flock on evidence/append.lock)."""
        with self._thread_lock:
            if self._lock_depth == 0:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            self._lock_depth += 1
            try:
                yield
            finally:
                self._lock_depth -= 1
                if self._lock_depth == 0:
                    fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    @staticmethod
    def _committed_size(conn: Connection) -> int:
        return int(conn.execute(select(tables.state.c.tree_size).where(tables.state.c.id == 1)).scalar_one())

    @property
    def size(self) -> int:
        """The committed number of leaves."""
        with self.engine.connect() as conn:
            return self._committed_size(conn)

    # ---- appending -------------------------------------------------------------------------
    def append(self, kind: str, record_id: str, record: Mapping[str, Any]) -> Receipt:
        """Append one record's leaf; raises DuplicateRecordError if (kind, record_id) is already logged."""
        return self.append_many([(kind, record_id, record)])[0]

    def append_many(self, items: Iterable[tuple[str, str, Mapping[str, Any]]]) -> list[Receipt]:
        """Append a batch atomically (all leaves or none) and sign one tree head over the result."""
        kinds: list[str] = []
        ids: list[str] = []
        hashes: list[bytes] = []
        seen: set[tuple[str, str]] = set()
        for kind, record_id, record in items:
            if not isinstance(kind, str) or not kind or not isinstance(record_id, str) or not record_id:
                raise ValueError(f"kind and record_id must be non-empty strings, got {kind!r}, {record_id!r}")
            key = (kind, record_id)
            if key in seen:
                raise DuplicateRecordError(kind, record_id, None)
            seen.add(key)
            kinds.append(kind)
            ids.append(record_id)
            hashes.append(record_hash(record))
        if not hashes:
            return []
        with self._locked():
            try:
                first = self._append_locked(kinds, ids, hashes)
            except IntegrityError:
                raise self._duplicate_of(kinds, ids) from None
        return [Receipt(index=first + i, leaf_hash=h.hex(), kind=k, record_id=r) for i, (k, r, h) in enumerate(zip(kinds, ids, hashes))]

    def _append_locked(self, kinds: list[str], ids: list[str], hashes: list[bytes]) -> int:
        stamp = signing.utc_timestamp()
        with self.engine.begin() as conn:
            size = self._committed_size(conn)
            self.orphan_bytes_removed += self.files.truncate_to(size)
            short = self.files.shortfalls(size)
            if short:
                raise LogIntegrityError(f"hash files are shorter than the committed tree of {size} leaves (level: missing) {short}; run an audit, then EvidenceLog.rebuild_hash_files()")
            conn.exec_driver_sql(
                "INSERT INTO evidence_leaves (leaf_index, kind, record_id, leaf_hash, appended_at) VALUES (?, ?, ?, ?, ?)",
                [(size + i, k, r, h, stamp) for i, (k, r, h) in enumerate(zip(kinds, ids, hashes))],
            )
            added = merkle.extend_levels(size, b"".join(hashes), lambda level: self.files.node(level, (size >> level) - 1))
            self.files.write(size, added)
            self.files.sync(len(added))
            new_size = size + len(hashes)
            root = merkle.tree_root(new_size, self.files.node)
            sth = signing.sign_tree_head(self._key, new_size, root, stamp)
            conn.execute(update(tables.state).where(tables.state.c.id == 1).values(tree_size=new_size))
            conn.execute(insert(tables.tree_heads).values(**sth.signed_fields(), signature=sth.signature))
        return size

    def _duplicate_of(self, kinds: list[str], ids: list[str]) -> DuplicateRecordError:
        wanted = set(zip(kinds, ids))
        with self.engine.connect() as conn:
            for start in range(0, len(ids), 500):
                chunk = sorted(set(ids[start : start + 500]))
                rows = conn.execute(
                    select(tables.leaves.c.kind, tables.leaves.c.record_id, tables.leaves.c.leaf_index).where(tables.leaves.c.record_id.in_(chunk))
                )
                for kind, record_id, index in rows:
                    if (kind, record_id) in wanted:
                        return DuplicateRecordError(kind, record_id, index)
        return DuplicateRecordError(kinds[0], ids[0], None)

    # ---- tree heads ------------------------------------------------------------------------
    def tree_head(self) -> SignedTreeHead:
        """The signed head of the current tree (signed now if the latest stored one is older)."""
        with self._reader() as db:
            return self._current_head(db)

    def _current_head(self, db: Any) -> SignedTreeHead:
        size, latest = self._size_and_latest_head(db)
        if latest is not None and latest.tree_size == size:
            return latest
        with self._locked(), self.engine.begin() as conn:
            size, latest = self._size_and_latest_head(conn.connection.dbapi_connection)
            if latest is not None and latest.tree_size == size:
                return latest
            sth = signing.sign_tree_head(self._key, size, merkle.tree_root(size, self.files.node))
            conn.execute(insert(tables.tree_heads).values(**sth.signed_fields(), signature=sth.signature))
            return sth

    @contextmanager
    def _reader(self) -> Iterator[Any]:
        """A pooled connection's DB-API handle, for the few hot read queries (no SQL compilation)."""
        with self.engine.connect() as conn:
            yield conn.connection.dbapi_connection

    @staticmethod
    def _size_and_latest_head(db: Any) -> tuple[int, SignedTreeHead | None]:
        """The committed size and the newest stored head, in one query (the hot path of every proof)."""
        row = db.execute(
            "SELECT s.tree_size, h.tree_size, h.root_hash, h.timestamp, h.key_id, h.signature FROM evidence_state s "
            "LEFT JOIN (SELECT * FROM evidence_tree_heads ORDER BY id DESC LIMIT 1) h WHERE s.id = 1"
        ).fetchone()
        if row is None:
            raise LogIntegrityError("the evidence_state row is missing")
        if row[1] is None:
            return int(row[0]), None
        return int(row[0]), SignedTreeHead(tree_size=int(row[1]), root_hash=row[2], timestamp=row[3], key_id=row[4], signature=row[5])

    def tree_heads(self) -> list[SignedTreeHead]:
        """Every stored signed tree head, oldest first."""
        with self.engine.connect() as conn:
            return [_head(row) for row in conn.execute(select(tables.tree_heads).order_by(tables.tree_heads.c.id))]

    def public_keys(self) -> dict[str, str]:
        """key id -> PEM of every key that has signed for this log."""
        with self.engine.connect() as conn:
            self._keys = dict(conn.execute(select(tables.keys.c.key_id, tables.keys.c.public_key)).all())
        return dict(self._keys)

    def public_key_of(self, key_id: str) -> str | None:
        """The PEM of one signing key of this log (cached; keys are only ever added)."""
        if key_id not in self._keys:
            self.public_keys()
        return self._keys.get(key_id)

    # ---- proofs ----------------------------------------------------------------------------
    def locate(self, record_id: str, kind: str | None = None) -> tuple[str, int, bytes]:
        """(kind, leaf index, leaf hash) of a logged record."""
        with self._reader() as db:
            return self._locate(db, record_id, kind)

    @staticmethod
    def _locate(db: Any, record_id: str, kind: str | None) -> tuple[str, int, bytes]:
        if kind is None:
            rows = db.execute("SELECT kind, leaf_index, leaf_hash FROM evidence_leaves WHERE record_id = ? LIMIT 10", (record_id,)).fetchall()
        else:
            rows = db.execute("SELECT kind, leaf_index, leaf_hash FROM evidence_leaves WHERE record_id = ? AND kind = ?", (record_id, kind)).fetchall()
        if not rows:
            of_kind = f" of kind {kind!r}" if kind is not None else ""
            raise UnknownRecordError(f"record {record_id!r}{of_kind} is not in the evidence log")
        if len(rows) > 1:
            raise AmbiguousRecordError(f"record id {record_id!r} is logged under several kinds ({', '.join(sorted(r[0] for r in rows))}); give the kind")
        found_kind, index, leaf = rows[0]
        return found_kind, int(index), bytes(leaf)

    def prove(self, record_id: str, kind: str | None = None) -> InclusionBundle:
        """An inclusion bundle for a record against the current signed tree head."""
        with self._reader() as db:
            kind, index, leaf = self._locate(db, record_id, kind)
            sth = self._current_head(db)
        path = merkle.inclusion_path(index, sth.tree_size, self.files.node)
        if merkle.root_from_inclusion(index, sth.tree_size, leaf, path).hex() != sth.root_hash:
            raise LogIntegrityError(f"the stored tree does not reproduce the signed root for leaf {index}; run an audit")
        return InclusionBundle(
            kind=kind,
            record_id=record_id,
            leaf_index=index,
            leaf_hash=leaf.hex(),
            audit_path=[node.hex() for node in path],
            sth=sth,
            public_key=self.public_key_of(sth.key_id) or self.public_key_pem,
        )

    def consistency(self, old_size: int, new_size: int | None = None) -> ConsistencyProof:
        """A proof that the tree of `old_size` leaves is a prefix of the tree of `new_size` (default: now)."""
        sth = self.tree_head()
        new = sth.tree_size if new_size is None else new_size
        if not 0 <= old_size <= new <= sth.tree_size:
            raise ValueError(f"need 0 <= old ({old_size}) <= new ({new}) <= the tree size ({sth.tree_size})")
        proof = merkle.consistency_proof(old_size, new, self.files.node)
        old_root = merkle.tree_root(old_size, self.files.node)
        new_root = merkle.tree_root(new, self.files.node)
        if new == sth.tree_size and new_root.hex() != sth.root_hash:
            raise LogIntegrityError("the stored tree does not reproduce the signed root; run an audit")
        return ConsistencyProof(
            old_size=old_size,
            new_size=new,
            old_root=old_root.hex(),
            new_root=new_root.hex(),
            proof=[node.hex() for node in proof],
            sth=sth if new == sth.tree_size else None,
        )

    # ---- audit and repair ------------------------------------------------------------------
    def leaf_rows(self, chunk: int = 100_000) -> Iterator[list[tuple[int, str, str, bytes]]]:
        """Every index row (leaf_index, kind, record_id, leaf_hash) in index order, in chunks."""
        last = -1
        with self.engine.connect() as conn:
            while True:
                rows = conn.exec_driver_sql(
                    "SELECT leaf_index, kind, record_id, leaf_hash FROM evidence_leaves WHERE leaf_index > ? ORDER BY leaf_index LIMIT ?",
                    (last, chunk),
                ).all()
                if not rows:
                    return
                yield [(int(i), k, r, bytes(h)) for i, k, r, h in rows]
                last = rows[-1][0]

    def audit(self, sources: Mapping[str, RecordSource], batch_size: int = 10_000) -> AuditReport:
        """Recompute every leaf from its record and the tree from the leaves; check every signed head."""
        from lendguard.evidence.audit import audit_log

        return audit_log(self, sources, batch_size=batch_size)

    def rebuild_hash_files(self) -> int:
        """Rewrite the hash files from the index table's leaf hashes (after an audit blamed the files)."""
        with self._locked(), self.engine.connect() as conn:
            size = self._committed_size(conn)
            leaves = b"".join(h for chunk in self.leaf_rows() for _, _, _, h in chunk)
            if len(leaves) != size * merkle.HASH_SIZE:
                raise LogIntegrityError(f"the index holds {len(leaves) // merkle.HASH_SIZE} leaves, the committed size is {size}")
            self.files.replace_all(merkle.build_levels(leaves) if size else [])
            return size


def _head(row: Any) -> SignedTreeHead:
    return SignedTreeHead(tree_size=int(row.tree_size), root_hash=row.root_hash, timestamp=row.timestamp, key_id=row.key_id, signature=row.signature)
