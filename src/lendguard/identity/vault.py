"""Store and read a borrower's personal fields, sealed one by one under the active data key.

Reads are masked unless the caller asks to reveal (only admins may, through the API); a
sealed value names the data key version that sealed it, so values under retired keys still
open and `reseal` moves them to the active key after a rotation.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable, Iterator

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from lendguard.identity.models import BorrowerIdentity
from lendguard.security.ciphers import CipherError, seal, unseal
from lendguard.security.keyring import Keyring, UnwrappedKey
from lendguard.security.masking import MASKS

FIELDS = ("name", "phone", "id_number", "bank_card")


def _aad(field: str, user_id: str) -> bytes:
    return f"borrower_identities.{field}:{user_id}".encode()


def version_of(sealed: str) -> int:
    head, _, _ = sealed.partition(":")
    if not head.startswith("v") or not head[1:].isdigit():
        raise CipherError("a sealed field reads v<key version>:<base64>")
    return int(head[1:])


class IdentityVault:
    def __init__(self, sessions: sessionmaker[Session], keyring: Keyring, fields: list[str]) -> None:
        self.sessions, self.keyring, self.fields = sessions, keyring, tuple(fields)

    def _seal(self, key: UnwrappedKey, field: str, user_id: str, value: str) -> str:
        return f"v{key.version}:" + base64.b64encode(seal(key.algorithm, key.key, value.encode(), _aad(field, user_id))).decode()

    def _open(self, field: str, user_id: str, sealed: str) -> str:
        key = self.keyring.key(version_of(sealed))
        return unseal(key.algorithm, key.key, base64.b64decode(sealed.partition(":")[2]), _aad(field, user_id)).decode()

    def put(self, user_id: str, values: dict[str, str | None]) -> None:
        """Set the given fields (None clears one); fields the policy does not encrypt are refused."""
        unknown = set(values) - set(self.fields)
        if unknown:
            raise ValueError(f"fields {sorted(unknown)} are not personal fields the policy encrypts ({', '.join(self.fields)})")
        key = self.keyring.active()  # before the write transaction: the keyring has its own
        with self.sessions.begin() as session:
            row = session.get(BorrowerIdentity, user_id, with_for_update=True)
            if row is None:
                row = BorrowerIdentity(user_id=user_id, updated_at=dt.datetime.now(dt.timezone.utc))
                session.add(row)
            for field, value in values.items():
                setattr(row, field, None if value is None else self._seal(key, field, user_id, value))
            row.updated_at = dt.datetime.now(dt.timezone.utc)

    def get(self, user_id: str, reveal: bool = False) -> dict[str, str | None] | None:
        with self.sessions() as session:
            row = session.get(BorrowerIdentity, user_id)
            if row is None:
                return None
            sealed = {f: getattr(row, f) for f in FIELDS}
        opened = {f: None if s is None else self._open(f, user_id, s) for f, s in sealed.items()}
        return opened if reveal else {f: None if v is None else MASKS[f](v) for f, v in opened.items()}

    def stale_count(self) -> int:
        """Rows holding a field sealed under an older key than the active one."""
        return sum(1 for _ in self._stale_users(self.keyring.active().version))

    def _stale_users(self, active: int) -> Iterator[str]:
        prefix = f"v{active}:"
        with self.sessions() as session:
            for row in session.scalars(select(BorrowerIdentity)):
                if any(getattr(row, f) and not getattr(row, f).startswith(prefix) for f in FIELDS):
                    yield row.user_id

    def reseal(self, progress: Callable[[int, int], None] | None = None) -> int:
        """Re-encrypt every field under the active data key, row by row (each row its own
        transaction, so a crash leaves every row readable); returns the rows changed."""
        key = self.keyring.active()
        users = list(self._stale_users(key.version))
        for done, user_id in enumerate(users, 1):
            with self.sessions() as session:
                row = session.get(BorrowerIdentity, user_id)
                sealed = {f: getattr(row, f) for f in FIELDS}
            opened = {f: self._open(f, user_id, s) for f, s in sealed.items() if s and version_of(s) != key.version}
            with self.sessions.begin() as session:
                row = session.get(BorrowerIdentity, user_id, with_for_update=True)
                for field, value in opened.items():
                    if getattr(row, field) == sealed[field]:  # unless a write replaced it meanwhile
                        setattr(row, field, self._seal(key, field, user_id, value))
            if progress:
                progress(done, len(users))
        return len(users)

    def count(self) -> int:
        with self.sessions() as session:
            return session.scalar(select(func.count()).select_from(BorrowerIdentity)) or 0
