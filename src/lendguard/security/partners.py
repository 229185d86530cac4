"""The partner registry: who may call the API server to server, with which keys and scopes.

A TOML file (`LENDGUARD_PARTNERS`, default `<data dir>/security/partners.toml`, mode 0600)
with one table per partner. It holds signing secrets, so it is kept apart from the policy
file a risk team edits and shares. A partner has up to two secrets at once so its key can
be rotated without downtime: the new one is added, the partner switches, the old one is
retired.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import secrets
import tomllib
from pathlib import Path
from typing import Literal

import tomli_w
from pydantic import Field, ValidationError, field_validator

from lendguard.policy.base import Strict
from lendguard.policy.security import RateLimit

Role = Literal["borrower", "partner", "risk_analyst", "reviewer", "compliance_auditor", "admin"]
PARTNERS_ENV = "LENDGUARD_PARTNERS"


class RegistryError(ValueError):
    """The registry cannot be read or names something unknown; the message says where."""


class PartnerEntry(Strict):
    name: str = Field(min_length=1)
    role: Role = "partner"
    secrets: list[str] = Field(min_length=1, max_length=2)  # hex; the first signs new requests, both verify
    permissions: list[str] | None = None  # narrower than the role's; None = all of the role's
    users: list[str] = ["*"]  # user-id patterns this partner may touch (fnmatch: "wx-*")
    purposes: list[str] | None = None  # consent purposes it may act for; None = any
    rate: RateLimit | None = None  # its own bucket instead of the policy's partner_rate
    ips: list[str] = []  # if set, only these networks may use its keys (and skip the per-IP limit)

    @field_validator("secrets")
    @classmethod
    def _hex_secrets(cls, values: list[str]) -> list[str]:
        for value in values:
            try:
                raw = bytes.fromhex(value)
            except ValueError:
                raise ValueError("a secret is a hex string") from None
            if len(raw) < 16:
                raise ValueError("a secret must be at least 16 bytes (32 hex digits)")
        return values

    @field_validator("ips")
    @classmethod
    def _networks(cls, values: list[str]) -> list[str]:
        for value in values:
            ipaddress.ip_network(value, strict=False)
        return values

    def secret_bytes(self) -> list[bytes]:
        return [bytes.fromhex(s) for s in self.secrets]

    def allows_ip(self, ip: str | None) -> bool:
        if not self.ips:
            return True
        address = _address(ip or "")
        return address is not None and any(address in network for network in _networks(tuple(self.ips)))


@functools.lru_cache(maxsize=4096)
def _address(ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """Parsed once per client address (the gate asks on every request)."""
    try:
        return ipaddress.ip_address(ip)
    except ValueError:
        return None


@functools.lru_cache(maxsize=256)
def _networks(ips: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(n, strict=False) for n in ips)


def registry_path(data_dir: Path) -> Path:
    return Path(os.environ.get(PARTNERS_ENV) or data_dir / "security" / "partners.toml")


def load_registry(path: Path) -> dict[str, PartnerEntry]:
    """Every partner in the file ({} when there is none yet)."""
    if not path.exists():
        return {}
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise RegistryError(f"{path}: {exc}") from None
    unknown = set(raw) - {"partners"}
    if unknown:
        raise RegistryError(f"{path}: unknown table(s) {sorted(unknown)}; partners go under [partners.<id>]")
    entries: dict[str, PartnerEntry] = {}
    for partner_id, table in raw.get("partners", {}).items():
        try:
            entries[partner_id] = PartnerEntry.model_validate(table)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(entry)'}: {e['msg']}" for e in exc.errors())
            raise RegistryError(f"{path}: partners.{partner_id}: {problems}") from None
    return entries


def save_registry(path: Path, entries: dict[str, PartnerEntry]) -> None:
    """Write the registry readable by its owner only, swapping the file in whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"partners": {pid: e.model_dump(exclude_none=True) for pid, e in sorted(entries.items())}}
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(b"# lendguard partner registry: holds signing secrets, keep it private (mode 0600)\n")
        tomli_w.dump(document, handle)
    os.replace(temporary, path)


def new_secret() -> str:
    return secrets.token_hex(32)
