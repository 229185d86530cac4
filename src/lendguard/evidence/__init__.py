"""Evidence: an append-only, tamper-evident log (RFC 6962 Merkle tree) of consents, decisions, offers, contracts and reviews.

    log = EvidenceLog.open(data_dir)
    receipt = log.append("consent", "c-1", record)
    bundle = log.prove("c-1")                       # offline-checkable
    verify_inclusion_bundle(bundle, record, public_key_pem)
    report = log.audit(load_sources(data_dir))
"""

from lendguard.evidence.canonical import CanonicalJSONError, canonical_json, record_hash
from lendguard.evidence.log import EvidenceLog
from lendguard.evidence.model import (
    AmbiguousRecordError,
    AuditReport,
    ConsistencyProof,
    DuplicateRecordError,
    EvidenceError,
    Finding,
    InclusionBundle,
    LogIntegrityError,
    Receipt,
    SignedTreeHead,
    UnknownRecordError,
    VerificationResult,
)
from lendguard.evidence.sources import load_sources, register_source
from lendguard.evidence.verify import (
    verify_consistency_proof,
    verify_inclusion_bundle,
    verify_tree_head,
)

__all__ = [
    "AmbiguousRecordError",
    "AuditReport",
    "CanonicalJSONError",
    "ConsistencyProof",
    "DuplicateRecordError",
    "EvidenceError",
    "EvidenceLog",
    "Finding",
    "InclusionBundle",
    "LogIntegrityError",
    "Receipt",
    "SignedTreeHead",
    "UnknownRecordError",
    "VerificationResult",
    "canonical_json",
    "load_sources",
    "record_hash",
    "register_source",
    "verify_consistency_proof",
    "verify_inclusion_bundle",
    "verify_tree_head",
]
