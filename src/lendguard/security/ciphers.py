"""Authenticated encryption of one field: SM4-GCM (China's national block cipher, the
default) or AES-256-GCM, both through the `cryptography` package.

A sealed value is nonce (12 bytes) | ciphertext | tag (16 bytes). The associated data binds
it to where it belongs (table, column, row), so a ciphertext copied onto another row or
field fails to open instead of showing the wrong person's number.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_BYTES = {"SM4-GCM": 16, "AES-256-GCM": 32}
NONCE_BYTES, TAG_BYTES = 12, 16


class CipherError(ValueError):
    """A value that cannot be opened: wrong key, wrong place, or tampered with."""


def _algorithm(name: str, key: bytes):
    if name not in KEY_BYTES:
        raise CipherError(f"unknown cipher {name!r}; one of {sorted(KEY_BYTES)}")
    if len(key) != KEY_BYTES[name]:
        raise CipherError(f"{name} needs a {KEY_BYTES[name]}-byte key, not {len(key)}")
    return algorithms.SM4(key) if name == "SM4-GCM" else algorithms.AES(key)


def seal(name: str, key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    encryptor = Cipher(_algorithm(name, key), modes.GCM(nonce)).encryptor()
    encryptor.authenticate_additional_data(aad)
    body = encryptor.update(plaintext) + encryptor.finalize()
    return nonce + body + encryptor.tag


def unseal(name: str, key: bytes, sealed: bytes, aad: bytes) -> bytes:
    if len(sealed) < NONCE_BYTES + TAG_BYTES:
        raise CipherError("the sealed value is too short to hold a nonce and a tag")
    nonce, body, tag = sealed[:NONCE_BYTES], sealed[NONCE_BYTES:-TAG_BYTES], sealed[-TAG_BYTES:]
    decryptor = Cipher(_algorithm(name, key), modes.GCM(nonce, tag)).decryptor()
    decryptor.authenticate_additional_data(aad)
    try:
        return decryptor.update(body) + decryptor.finalize()
    except InvalidTag:
        raise CipherError("the value does not open under this key and place (wrong key, moved, or tampered with)") from None


def derive_key(name: str, master: bytes, purpose: str) -> bytes:
    """A key for `name` from the master key, separate per purpose: HKDF over SM3 for SM4
    (so an SM4 deployment uses national algorithms end to end), over SHA-256 for AES."""
    digest = hashes.SM3() if name == "SM4-GCM" else hashes.SHA256()
    return HKDF(algorithm=digest, length=KEY_BYTES[name], salt=None, info=f"lendguard {purpose} {name}".encode()).derive(master)


def new_key(name: str) -> bytes:
    return os.urandom(KEY_BYTES[name])
