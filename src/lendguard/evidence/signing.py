"""Ed25519 keys of the log and the signing and checking of tree heads (the crypto adapter)."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from lendguard.evidence.canonical import canonical_json
from lendguard.evidence.model import SignedTreeHead
from lendguard.store.files import write_atomically

KEY_ENV = "LENDGUARD_EVIDENCE_KEY"
STH_CONTEXT = b"lendguard-evidence-sth-v1\n"
"""Prefixed to the canonical JSON before signing, so a tree-head signature means nothing elsewhere."""


class SigningKeyError(ValueError):
    """A key file that cannot be read as an Ed25519 key."""


def utc_timestamp(moment: dt.datetime | None = None) -> str:
    moment = (moment or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc)
    return moment.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def public_key_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")


def key_id(key: Ed25519PublicKey) -> str:
    """Hex SHA-256 of the public key's DER SubjectPublicKeyInfo."""
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def load_public_key(pem: str | bytes) -> Ed25519PublicKey:
    data = pem.encode("ascii") if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise SigningKeyError(f"not a PEM public key: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError("the public key is not an Ed25519 key")
    return key


def load_or_create_signing_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 private key at `path` (PKCS#8 PEM); created with mode 0600 when absent."""
    if path.exists():
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (ValueError, TypeError) as exc:
            raise SigningKeyError(f"{path}: not an unencrypted PEM private key: {exc}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise SigningKeyError(f"{path}: not an Ed25519 private key")
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(descriptor, pem)
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    try:
        os.link(temporary, path)  # never replaces a key another process created meanwhile
    except FileExistsError:
        os.unlink(temporary)
        return load_or_create_signing_key(path)
    os.unlink(temporary)
    return key


def write_public_key(path: Path, key: Ed25519PublicKey) -> None:
    pem = public_key_pem(key)
    if path.exists() and path.read_text(encoding="ascii") == pem:
        return
    write_atomically(path, pem.encode("ascii"))


def sth_message(tree_size: int, root_hash: str, timestamp: str, key_id_hex: str) -> bytes:
    """The bytes a tree head's signature covers."""
    fields = {"tree_size": tree_size, "root_hash": root_hash, "timestamp": timestamp, "key_id": key_id_hex}
    return STH_CONTEXT + canonical_json(fields)


def sign_tree_head(key: Ed25519PrivateKey, tree_size: int, root: bytes, timestamp: str | None = None) -> SignedTreeHead:
    public = key.public_key()
    kid = key_id(public)
    stamp = timestamp or utc_timestamp()
    signature = key.sign(sth_message(tree_size, root.hex(), stamp, kid))
    return SignedTreeHead(tree_size=tree_size, root_hash=root.hex(), timestamp=stamp, key_id=kid, signature=base64.b64encode(signature).decode("ascii"))


def check_tree_head(sth: SignedTreeHead, public_key: Ed25519PublicKey) -> str | None:
    """None when the head is signed by `public_key`; else why not."""
    if sth.key_id != key_id(public_key):
        return f"the tree head names key {sth.key_id[:16]}…, not the given key {key_id(public_key)[:16]}…"
    try:
        signature = base64.b64decode(sth.signature, validate=True)
    except (binascii.Error, ValueError):
        return "the tree head's signature is not base64"
    try:
        public_key.verify(signature, sth_message(sth.tree_size, sth.root_hash, sth.timestamp, sth.key_id))
    except InvalidSignature:
        return "the tree head's signature does not verify"
    return None
