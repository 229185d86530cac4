"""Audit of an evidence log: recompute every leaf from its record and the tree from the leaves, and
compare with the index table, the hash files and every signed tree head.

Who is to blame is decided by the signed heads: a hash file position that disagrees with the
records is the file's fault, unless the file still reproduces the signed roots and the records'
order does not, in which case the index rows were moved or rewritten.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping
from operator import itemgetter
from typing import TYPE_CHECKING

from lendguard.evidence import merkle, signing
from lendguard.evidence.canonical import CanonicalJSONError, record_hash
from lendguard.evidence.merkle import HASH_SIZE
from lendguard.evidence.model import AuditReport, Finding, SignedTreeHead

if TYPE_CHECKING:
    from lendguard.evidence.log import EvidenceLog, RecordSource

_ZERO = bytes(HASH_SIZE)


class _Snapshot:
    """What the audit reads from storage, taken under the append lock so it is one consistent state."""

    def __init__(self, log: EvidenceLog):
        with log._locked():
            self.size = log.size
            self.rows = [row for chunk in log.leaf_rows() for row in chunk]
            self.heads = log.tree_heads()
            self.keys = log.public_keys()
            self.files = [log.files.read_level(level) for level in log.files.levels_on_disk()]
            self.file_names = [log.files.path(level).name for level in log.files.levels_on_disk()]


def audit_log(log: EvidenceLog, sources: Mapping[str, RecordSource], batch_size: int = 10_000) -> AuditReport:
    snap = _Snapshot(log)
    findings: list[Finding] = []
    size = snap.size

    # ---- the index table --------------------------------------------------------------------
    stored = bytearray(size * HASH_SIZE)
    present = bytearray(size)
    by_kind: dict[str, list[tuple[int, str]]] = {}
    for index, kind, record_id, leaf in snap.rows:
        if index >= size or index < 0:
            findings.append(Finding("leaf_unexpected", f"index row {index} lies beyond the committed tree size {size}", kind, record_id, index))
            continue
        stored[index * HASH_SIZE : (index + 1) * HASH_SIZE] = leaf
        present[index] = 1
        by_kind.setdefault(kind, []).append((index, record_id))
    for index in (i for i in range(size) if not present[i]):
        findings.append(Finding("leaf_removed", f"the index row of leaf {index} is missing", None, None, index))

    # ---- the records ------------------------------------------------------------------------
    expected = bytearray(stored)
    explained: set[int] = set()
    mismatched: list[tuple[int, str, str, bytes | None, str]] = []
    checked = 0
    for kind in sorted(by_kind):
        entries = by_kind[kind]
        fetch = sources.get(kind)
        if fetch is None:
            findings.append(Finding("no_source", f"no source registered for kind {kind!r}: its {len(entries):,} record(s) were not checked", kind))
            continue
        for start in range(0, len(entries), batch_size):
            batch = entries[start : start + batch_size]
            found = fetch([record_id for _, record_id in batch])
            for index, record_id in batch:
                record = found.get(record_id)
                if record is None:
                    findings.append(Finding("record_missing", f"record {record_id!r} of kind {kind!r} (leaf {index}) is gone from its store", kind, record_id, index))
                    explained.add(index)
                    continue
                checked += 1
                try:
                    recomputed = record_hash(record)
                except CanonicalJSONError as exc:
                    mismatched.append((index, kind, record_id, None, f"has no canonical form any more: {exc}"))
                    continue
                if recomputed != stored[index * HASH_SIZE : (index + 1) * HASH_SIZE]:
                    mismatched.append((index, kind, record_id, recomputed, ""))
                    expected[index * HASH_SIZE : (index + 1) * HASH_SIZE] = recomputed
    if mismatched:
        positions = _positions(stored)
        for index, kind, record_id, recomputed, note in mismatched:
            explained.add(index)
            elsewhere = positions.get(recomputed) if recomputed is not None else None
            if elsewhere is not None and elsewhere != index:
                message = f"record {record_id!r} of kind {kind!r} hashes to the leaf committed at index {elsewhere}, but the index table places it at {index}"
                findings.append(Finding("leaf_reordered", message, kind, record_id, index))
            else:
                message = f"record {record_id!r} of kind {kind!r} no longer hashes to its leaf {index}" + (f" ({note})" if note else "")
                findings.append(Finding("record_changed", message, kind, record_id, index))

    # ---- the signed heads against the records -------------------------------------------------
    expected_levels = merkle.build_levels(bytes(expected)) if size else [b""]
    valid_heads: list[SignedTreeHead] = []
    for head in snap.heads:
        reason = _signature_problem(head, snap.keys)
        if reason is not None:
            findings.append(Finding("bad_signature", f"tree head of size {head.tree_size} at {head.timestamp}: {reason}"))
        elif head.tree_size > size:
            findings.append(Finding("tree_head_beyond_log", f"a signed tree head covers {head.tree_size:,} leaves but the log holds {size:,}: leaves were removed"))
        else:
            valid_heads.append(head)
    findings.extend(_root_findings(valid_heads, expected_levels))

    # ---- the hash files -----------------------------------------------------------------------
    findings.extend(_hash_file_findings(snap, size, bytes(stored), bytes(expected), expected_levels, valid_heads, explained))

    return AuditReport(ok=not findings, tree_size=size, leaves_checked=checked, tree_heads_checked=len(snap.heads), findings=findings)


def _positions(level: bytes | bytearray) -> dict[bytes, int]:
    view = bytes(level)
    return {view[i : i + HASH_SIZE]: i // HASH_SIZE for i in range(0, len(view), HASH_SIZE)}


def _signature_problem(head: SignedTreeHead, keys: Mapping[str, str]) -> str | None:
    pem = keys.get(head.key_id)
    if pem is None:
        return f"signed by key {head.key_id[:16]}…, which has never signed for this log"
    try:
        return signing.check_tree_head(head, signing.load_public_key(pem))
    except signing.SigningKeyError as exc:
        return str(exc)


def _roots_match(heads: list[SignedTreeHead], levels: list[bytes]) -> list[bool]:
    subtree = merkle.subtree_from_levels(levels)
    leaves = len(levels[0]) // HASH_SIZE
    return [head.tree_size <= leaves and merkle.tree_root(head.tree_size, subtree).hex() == head.root_hash for head in heads]


def _root_findings(heads: list[SignedTreeHead], levels: list[bytes]) -> list[Finding]:
    matches = _roots_match(heads, levels)
    failing = sorted((head.tree_size, head.timestamp) for head, ok in zip(heads, matches) if not ok)
    if not failing:
        return []
    first_size, first_time = failing[0]
    below = [head.tree_size for head, ok in zip(heads, matches) if ok and head.tree_size < first_size]
    intact = max(below, default=0)
    others = f"; {len(failing) - 1:,} later head(s) do not match either" if len(failing) > 1 else ""
    message = (
        f"the tree rebuilt from the records does not give the signed root of size {first_size:,} ({first_time}): "
        f"a leaf in [{intact:,}, {first_size:,}) was changed, reordered or removed{others}"
    )
    return [Finding("root_mismatch", message, None, None, intact)]


def _hash_file_findings(
    snap: _Snapshot,
    size: int,
    stored: bytes,
    expected: bytes,
    expected_levels: list[bytes],
    heads: list[SignedTreeHead],
    explained: set[int],
) -> list[Finding]:
    findings: list[Finding] = []
    files = snap.files + [b""] * max(0, len(expected_levels) - len(snap.files))
    names = snap.file_names + [f"level_{k}.bin" for k in range(len(snap.file_names), len(files))]
    level0 = files[0] if files else b""
    need0 = size * HASH_SIZE
    changed0: list[int] = []
    if len(level0) < need0:
        findings.append(Finding("hash_file_tampered", f"{names[0]} holds {len(level0) // HASH_SIZE:,} leaf hashes, the committed tree has {size:,}"))
    else:
        # a position whose record change was already reported, and where the file still holds the
        # committed leaf, is not the file's fault
        changed0 = [i for i in _differences(level0[:need0], expected) if not (i in explained and _at(level0, i) == _at(stored, i))]
    if changed0:
        file_levels = merkle.build_levels(level0[:need0])
        file_right = all(_roots_match(heads, file_levels))
        records_right = all(_roots_match(heads, expected_levels))
        if file_right and not records_right:
            in_file = _positions(level0[:need0])
            for i in changed0:
                kind, record_id = _who(snap.rows, i)
                elsewhere = in_file.get(_at(expected, i))
                if elsewhere is not None:
                    message = f"index row {i} ({kind}, {record_id}) holds the leaf that the signed tree has at position {elsewhere}: index rows were moved"
                    findings.append(Finding("leaf_reordered", message, kind, record_id, i))
                else:
                    message = f"record {record_id!r} and its index row agree, but the signed tree has another leaf at {i}: both were rewritten"
                    findings.append(Finding("record_changed", message, kind, record_id, i))
        else:
            expected_at = _positions(expected)
            for i in changed0:
                elsewhere = expected_at.get(_at(level0, i))
                moved = f" (it holds the hash of leaf {elsewhere}: entries were moved)" if elsewhere is not None else ""
                findings.append(Finding("hash_file_tampered", f"{names[0]} position {i} does not hold leaf {i}'s hash{moved}", *_who(snap.rows, i), i))
    # upper levels must be the parents of the level-0 file (positions over a bad leaf are reported already)
    if len(level0) < need0 or level0[:need0] == expected:
        base = expected_levels
    else:
        base = merkle.build_levels(level0[:need0])
    for level in range(1, len(base)):
        need = (size >> level) * HASH_SIZE
        if need == 0:
            break
        data = files[level] if level < len(files) else b""
        if len(data) < need:
            findings.append(Finding("hash_file_tampered", f"{names[level]} holds {len(data) // HASH_SIZE:,} hashes, the committed tree needs {need // HASH_SIZE:,}"))
            continue
        dirty = {i >> level for i in changed0}
        for position in _differences(data[:need], base[level][:need]):
            if position not in dirty:
                first = position << level
                findings.append(Finding("hash_file_tampered", f"{names[level]} position {position} (leaves {first:,}…{first + (1 << level) - 1:,}) does not hold that subtree's hash", None, None, first))
    return findings


def _who(rows: list[tuple[int, str, str, bytes]], index: int) -> tuple[str | None, str | None]:
    """(kind, record_id) of the index row of a leaf (rows are in index order)."""
    at = bisect_left(rows, index, key=itemgetter(0))
    if at < len(rows) and rows[at][0] == index:
        return rows[at][1], rows[at][2]
    return None, None


def _at(level: bytes, i: int) -> bytes:
    return level[i * HASH_SIZE : (i + 1) * HASH_SIZE]


def _differences(actual: bytes, wanted: bytes, block: int = 1 << 16) -> list[int]:
    """Positions (in 32-byte hashes) where two equally long hash arrays differ."""
    if actual == wanted:
        return []
    found = []
    for start in range(0, len(wanted), block):
        if actual[start : start + block] != wanted[start : start + block]:
            for offset in range(start, min(start + block, len(wanted)), HASH_SIZE):
                if actual[offset : offset + HASH_SIZE] != wanted[offset : offset + HASH_SIZE]:
                    found.append(offset // HASH_SIZE)
    return found
