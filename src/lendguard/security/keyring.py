"""Envelope encryption's keys: data keys that seal fields, wrapped by a master key.

The master key (`LENDGUARD_MASTER_KEY`, 32 bytes hex, from the lender's KMS or HSM; else a
key file made on first use under the data dir, mode 0600, for development) never touches
the database. Data keys live in the `data_keys` table only wrapped by it. Rotation:
- `rotate()` makes a new data key that seals every new value; old values still open under
  their own version, and `reseal` (in identity.vault) moves them to the new one;
- `rewrap(old_master)` re-wraps every data key under a new master key (set the new one in
  `LENDGUARD_MASTER_KEY` and the old one in `LENDGUARD_MASTER_KEY_PREVIOUS`), without
  touching a single sealed field.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from lendguard.identity.models import DataKey
from lendguard.security.ciphers import CipherError, derive_key, new_key, seal, unseal
from lendguard.security.files import create_once

MASTER_ENV = "LENDGUARD_MASTER_KEY"
PREVIOUS_MASTER_ENV = "LENDGUARD_MASTER_KEY_PREVIOUS"


class KeyringError(CipherError):
    """A master or data key is missing or does not fit."""


def _hex_key(name: str, value: str) -> bytes:
    try:
        key = bytes.fromhex(value.strip())
    except ValueError:
        raise KeyringError(f"{name} must be 64 hex digits (32 bytes)") from None
    if len(key) != 32:
        raise KeyringError(f"{name} must be 32 bytes (64 hex digits), not {len(key)}")
    return key


def master_key(data_dir: Path) -> bytes:
    value = os.environ.get(MASTER_ENV)
    if value:
        return _hex_key(MASTER_ENV, value)
    path = data_dir / "security" / "master.key"
    return _hex_key(str(path), create_once(path, secrets.token_hex(32)))


def previous_master_key() -> bytes | None:
    value = os.environ.get(PREVIOUS_MASTER_ENV)
    return _hex_key(PREVIOUS_MASTER_ENV, value) if value else None


def fingerprint(master: bytes) -> str:
    return hashlib.sha256(b"lendguard master " + master).hexdigest()[:16]


def _wrap_aad(version: int, algorithm: str) -> bytes:
    return f"data-key:{version}:{algorithm}".encode()


@dataclass(frozen=True)
class UnwrappedKey:
    version: int
    algorithm: str
    key: bytes


class Keyring:
    """Data keys of one database, unwrapped on first use and kept in memory."""

    def __init__(self, sessions: sessionmaker[Session], master: bytes, algorithm: str) -> None:
        self.sessions, self.master, self.algorithm = sessions, master, algorithm
        self.cache: dict[int, UnwrappedKey] = {}

    def _unwrap(self, row: DataKey, master: bytes) -> bytes:
        if row.master_id != fingerprint(master):
            raise KeyringError(f"data key v{row.version} is wrapped by master key {row.master_id}, not by the one in use ({fingerprint(master)}); set {MASTER_ENV} to it, or rewrap")
        kek = derive_key(row.algorithm, master, "key-wrap")
        return unseal(row.algorithm, kek, base64.b64decode(row.wrapped), _wrap_aad(row.version, row.algorithm))

    def key(self, version: int) -> UnwrappedKey:
        if version not in self.cache:
            with self.sessions() as session:
                row = session.get(DataKey, version)
                if row is None:
                    raise KeyringError(f"no data key v{version}")
                self.cache[version] = UnwrappedKey(version, row.algorithm, self._unwrap(row, self.master))
        return self.cache[version]

    def active(self) -> UnwrappedKey:
        """The newest data key of the policy's algorithm; the first is made on first use."""
        with self.sessions() as session:
            version = session.scalar(
                select(DataKey.version).where(DataKey.retired_at.is_(None), DataKey.algorithm == self.algorithm).order_by(DataKey.version.desc()).limit(1)
            )
        return self.key(version) if version is not None else self.rotate()

    def rotate(self) -> UnwrappedKey:
        """A new data key; earlier ones stay to open what they sealed."""
        with self.sessions.begin() as session:
            version = (session.scalar(select(DataKey.version).order_by(DataKey.version.desc()).limit(1)) or 0) + 1
            key = new_key(self.algorithm)
            kek = derive_key(self.algorithm, self.master, "key-wrap")
            wrapped = base64.b64encode(seal(self.algorithm, kek, key, _wrap_aad(version, self.algorithm))).decode()
            now = dt.datetime.now(dt.timezone.utc)
            for older in session.scalars(select(DataKey).where(DataKey.retired_at.is_(None))):
                older.retired_at = now  # retired keys open old values but seal nothing new
            session.add(DataKey(version=version, algorithm=self.algorithm, wrapped=wrapped, master_id=fingerprint(self.master), created_at=now))
        self.cache[version] = UnwrappedKey(version, self.algorithm, key)
        return self.cache[version]

    def rewrap(self, old_master: bytes) -> int:
        """Re-wrap every data key wrapped by `old_master` under this keyring's master; returns how many."""
        moved = 0
        with self.sessions.begin() as session:
            for row in session.scalars(select(DataKey).where(DataKey.master_id == fingerprint(old_master))):
                key = self._unwrap(row, old_master)
                kek = derive_key(row.algorithm, self.master, "key-wrap")
                row.wrapped = base64.b64encode(seal(row.algorithm, kek, key, _wrap_aad(row.version, row.algorithm))).decode()
                row.master_id = fingerprint(self.master)
                moved += 1
        self.cache.clear()
        return moved

    def versions(self) -> list[dict]:
        with self.sessions() as session:
            rows = session.scalars(select(DataKey).order_by(DataKey.version)).all()
            return [{"version": r.version, "algorithm": r.algorithm, "master_id": r.master_id, "created_at": r.created_at.isoformat(), "retired": r.retired_at is not None} for r in rows]
