"""Offline verification of evidence: an inclusion bundle against a record, a consistency proof, a tree head.

Needs nothing but the documents, the record and (ideally) the log's public key obtained some
other way; it never touches a data directory.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import msgspec

from lendguard.evidence import merkle, signing
from lendguard.evidence.canonical import (
    MAX_SAFE_INTEGER,
    CanonicalJSONError,
    record_hash,
)
from lendguard.evidence.model import (
    ConsistencyProof,
    InclusionBundle,
    SignedTreeHead,
    VerificationResult,
)


def _hex(value: str, what: str) -> bytes:
    try:
        data = bytes.fromhex(value)
    except (ValueError, TypeError):
        raise ValueError(f"{what} is not hex") from None
    if len(data) != merkle.HASH_SIZE:
        raise ValueError(f"{what} is not a 32-byte hash")
    return data


def as_bundle(bundle: InclusionBundle | Mapping[str, Any] | bytes | str) -> InclusionBundle:
    """An inclusion bundle from a document, its JSON text or a dict (raises ValueError if malformed)."""
    if isinstance(bundle, InclusionBundle):
        return bundle
    try:
        if isinstance(bundle, (bytes, str)):
            return msgspec.json.decode(bundle, type=InclusionBundle)
        return msgspec.convert(bundle, type=InclusionBundle)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise ValueError(f"not an inclusion bundle: {exc}") from None


def verify_tree_head(sth: SignedTreeHead, public_key_pem: str | bytes) -> VerificationResult:
    """Whether a tree head is signed by the key."""
    try:
        problem = signing.check_tree_head(sth, signing.load_public_key(public_key_pem))
    except signing.SigningKeyError as exc:
        return VerificationResult(False, str(exc))
    return VerificationResult(problem is None, problem or f"tree head of size {sth.tree_size} is signed by key {sth.key_id[:16]}…")


def verify_inclusion_bundle(
    bundle: InclusionBundle | Mapping[str, Any] | bytes | str,
    record: Mapping[str, Any],
    public_key_pem: str | bytes | None = None,
) -> VerificationResult:
    """Check offline that `record` is the leaf the bundle proves included under a validly signed tree head.

    Without `public_key_pem` the key the bundle carries is used; that only shows the bundle is
    self-consistent (`key_from_bundle` is then True): compare its key id with the log's published one.
    """
    from_bundle = public_key_pem is None
    try:
        parsed = as_bundle(bundle)
    except ValueError as exc:
        return VerificationResult(False, str(exc), from_bundle)
    try:
        leaf = record_hash(record)
    except CanonicalJSONError as exc:
        return VerificationResult(False, f"the record has no canonical JSON form: {exc}", from_bundle)
    try:
        claimed = _hex(parsed.leaf_hash, "leaf_hash")
        path = [_hex(node, "an audit path entry") for node in parsed.audit_path]
        root = _hex(parsed.sth.root_hash, "the tree head's root_hash")
    except ValueError as exc:
        return VerificationResult(False, str(exc), from_bundle)
    if leaf != claimed:
        return VerificationResult(False, f"the record does not match the logged leaf: it hashes to {leaf.hex()}, the bundle's leaf is {claimed.hex()} (the record was changed)", from_bundle)
    try:
        computed = merkle.root_from_inclusion(parsed.leaf_index, parsed.sth.tree_size, leaf, path)
    except merkle.MerkleProofError as exc:
        return VerificationResult(False, f"the audit path is not valid: {exc}", from_bundle)
    if computed != root:
        return VerificationResult(False, f"the audit path leads to root {computed.hex()}, not the signed root {root.hex()}", from_bundle)
    signed = verify_tree_head(parsed.sth, parsed.public_key if public_key_pem is None else public_key_pem)
    if not signed.ok:
        return VerificationResult(False, signed.reason, from_bundle)
    source = "the key in the bundle" if from_bundle else "the given public key"
    return VerificationResult(
        True,
        f"record {parsed.record_id!r} ({parsed.kind}) is leaf {parsed.leaf_index} of the tree of {parsed.sth.tree_size} leaves signed at {parsed.sth.timestamp} by {source} (key {parsed.sth.key_id[:16]}…)",
        from_bundle,
    )


def verify_consistency_proof(proof: ConsistencyProof, public_key_pem: str | bytes | None = None) -> VerificationResult:
    """Check a consistency proof between its two roots (and the new head's signature, when it carries one and a key is given)."""
    try:
        old_root, new_root = _hex(proof.old_root, "old_root"), _hex(proof.new_root, "new_root")
        nodes = [_hex(node, "a proof entry") for node in proof.proof]
    except ValueError as exc:
        return VerificationResult(False, str(exc))
    if not merkle.verify_consistency(proof.old_size, proof.new_size, old_root, new_root, nodes):
        return VerificationResult(False, f"the proof does not show the tree of {proof.old_size} leaves is a prefix of the tree of {proof.new_size}")
    if proof.sth is not None:
        if proof.sth.tree_size != proof.new_size or proof.sth.root_hash != proof.new_root:
            return VerificationResult(False, "the signed tree head does not match the new size and root")
        if public_key_pem is not None:
            signed = verify_tree_head(proof.sth, public_key_pem)
            if not signed.ok:
                return signed
    return VerificationResult(True, f"the tree of {proof.old_size} leaves is a prefix of the tree of {proof.new_size}")


def parse_record(text: bytes | str) -> Any:
    """A record from its JSON text, reading numbers as JCS does (as IEEE doubles beyond ±(2**53 - 1)).

    This is how `lendguard evidence verify --record FILE` reads a record: an integer too large for
    a double is read as the nearest double, exactly as the canonical form of a float wrote it.
    """
    try:
        return json.loads(text, parse_int=_parse_int)
    except ValueError as exc:
        raise ValueError(f"the record is not JSON: {exc}") from None


def _parse_int(digits: str) -> int | float:
    value = int(digits)
    return value if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER else float(value)
