"""The evidence log's documents (receipts, signed tree heads, proofs, audit findings) and its errors."""

from __future__ import annotations

from typing import Any

import msgspec


class Receipt(msgspec.Struct, frozen=True):
    """What an append returns: where the record's leaf is and what it hashes to."""

    index: int
    leaf_hash: str  # hex
    kind: str
    record_id: str


class SignedTreeHead(msgspec.Struct, frozen=True):
    """The log's signed statement of its size and root (Ed25519 over the canonical JSON of the other fields)."""

    tree_size: int
    root_hash: str  # hex
    timestamp: str  # ISO 8601 UTC, e.g. 2026-11-24T03:02:53.123456Z
    key_id: str  # hex SHA-256 of the public key (DER SubjectPublicKeyInfo)
    signature: str  # base64 Ed25519 signature

    def signed_fields(self) -> dict[str, Any]:
        return {"tree_size": self.tree_size, "root_hash": self.root_hash, "timestamp": self.timestamp, "key_id": self.key_id}


class InclusionBundle(msgspec.Struct, frozen=True):
    """Everything needed to check offline that a record is in the log: the leaf, its audit path, the signed head, the key."""

    kind: str
    record_id: str
    leaf_index: int
    leaf_hash: str  # hex
    audit_path: list[str]  # hex, leaf side first (RFC 9162 §2.1.3)
    sth: SignedTreeHead
    public_key: str  # PEM of the log's Ed25519 public key


class ConsistencyProof(msgspec.Struct, frozen=True):
    """Proof that the log of `old_size` leaves is a prefix of the log of `new_size` leaves (RFC 9162 §2.1.4)."""

    old_size: int
    new_size: int
    old_root: str  # hex
    new_root: str  # hex
    proof: list[str]  # hex
    sth: SignedTreeHead | None = None  # the signed head of new_size, when new_size is the current size


class VerificationResult(msgspec.Struct, frozen=True):
    """The outcome of an offline verification; `reason` says what failed, or what was checked."""

    ok: bool
    reason: str
    key_from_bundle: bool = False  # True when the signature was checked with the key the bundle carries


class Finding(msgspec.Struct, frozen=True):
    """One problem an audit found."""

    problem: str  # one of PROBLEMS
    message: str
    kind: str | None = None
    record_id: str | None = None
    leaf_index: int | None = None


PROBLEMS = {
    "record_changed": "the record no longer hashes to its leaf",
    "record_missing": "the record is gone from its store",
    "no_source": "no source registered for the kind, its records cannot be checked",
    "leaf_reordered": "a leaf sits at another position than the one it was committed at",
    "leaf_removed": "a committed leaf row is missing from the index",
    "leaf_unexpected": "an index row beyond the committed tree size",
    "hash_file_tampered": "a stored hash file does not hold the hashes the leaves give",
    "root_mismatch": "a signed tree head's root differs from the tree rebuilt from the records",
    "tree_head_beyond_log": "a signed tree head covers more leaves than the log holds",
    "bad_signature": "a signed tree head's signature does not verify",
}


class AuditReport(msgspec.Struct, frozen=True):
    """The result of `EvidenceLog.audit`: every finding, and counts of what was checked."""

    ok: bool
    tree_size: int
    leaves_checked: int
    tree_heads_checked: int
    findings: list[Finding]


class EvidenceError(Exception):
    """Base class of the evidence log's errors."""


class DuplicateRecordError(EvidenceError):
    """A (kind, record_id) that is already in the log, or twice in one batch; nothing of the batch was appended."""

    def __init__(self, kind: str, record_id: str, index: int | None):
        self.kind, self.record_id, self.index = kind, record_id, index
        where = f"at leaf {index}" if index is not None else "twice in the same batch"
        super().__init__(f"record {record_id!r} of kind {kind!r} is already in the evidence log ({where}); appends are not idempotent, check before appending")


class UnknownRecordError(EvidenceError, LookupError):
    """No leaf for this record id (and kind)."""


class AmbiguousRecordError(EvidenceError):
    """The record id is logged under more than one kind; the kind must be given."""


class LogIntegrityError(EvidenceError):
    """The stored tree does not agree with itself (run an audit)."""


def to_builtins(document: msgspec.Struct) -> dict[str, Any]:
    """A document as plain JSON-able Python objects."""
    return msgspec.to_builtins(document)
