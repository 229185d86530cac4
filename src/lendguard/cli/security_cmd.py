"""`lendguard partner` (the registry of callers and their keys), `lendguard token` (people's
tokens) and `lendguard keys` (the data keys that seal personal fields, and their rotation)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional, get_args

import typer
from rich.table import Table

from lendguard.cli.common import (
    DEFAULT_DATA_DIR,
    DataDir,
    PolicyPath,
    _fail,
    _policy,
    _progress,
    console,
)
from lendguard.security.partners import (
    PartnerEntry,
    RegistryError,
    Role,
    load_registry,
    new_secret,
    registry_path,
    save_registry,
)

partner_app = typer.Typer(help="Partners that call the API: keys, roles, scopes, limits.", no_args_is_help=True)
token_app = typer.Typer(help="Tokens for people: a risk analyst's dashboard, a reviewer, a borrower's session.", no_args_is_help=True)
keys_app = typer.Typer(help="Data keys sealing personal fields: status, rotation, resealing, master-key rewrap.", no_args_is_help=True)
ROLES = [r for r in get_args(Role) if r != "borrower"]  # a borrower is a person with a token, not a partner


def _registry(data_dir: Path) -> tuple[Path, dict[str, PartnerEntry]]:
    path = registry_path(data_dir)
    try:
        return path, load_registry(path)
    except RegistryError as exc:
        raise _fail(str(exc)) from exc


@partner_app.command("add")
def partner_add(
    partner_id: Annotated[str, typer.Argument(help="The id the partner sends in X-LG-Partner.")],
    name: Annotated[str, typer.Option(help="Who the partner is.")],
    role: Annotated[str, typer.Option(help=f"One of {', '.join(ROLES)}.")] = "partner",
    users: Annotated[Optional[list[str]], typer.Option("--users", help="User-id pattern it may reach (repeatable; default every user).")] = None,
    purposes: Annotated[Optional[list[str]], typer.Option("--purpose", help="Consent purpose it acts for (repeatable; default any).")] = None,
    permissions: Annotated[Optional[list[str]], typer.Option("--permission", help="Narrow the role to these permissions (repeatable).")] = None,
    rate: Annotated[Optional[float], typer.Option(help="Its own requests/s (default: the policy's partner_rate).")] = None,
    burst: Annotated[Optional[int], typer.Option(help="Its own burst (with --rate).")] = None,
    ips: Annotated[Optional[list[str]], typer.Option("--ip", help="Network its keys may be used from (repeatable).")] = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    policy: PolicyPath = None,
) -> None:
    """Register a partner and print its new signing secret (shown once; the registry keeps it)."""
    loaded = _policy(policy)
    path, entries = _registry(data_dir)
    if partner_id in entries:
        raise _fail(f"partner {partner_id!r} exists in {path}; `lendguard partner rotate` gives it a new secret")
    unknown = sorted(set(purposes or []) - set(loaded.consent.purposes))
    if unknown:
        raise _fail(f"unknown purpose(s) {unknown}; the policy's purposes are {sorted(loaded.consent.purposes)}")
    secret = new_secret()
    try:
        entry = PartnerEntry(
            name=name, role=role, secrets=[secret], permissions=permissions or None, users=users or ["*"], purposes=purposes or None,
            rate={"per_second": rate, "burst": burst or max(1, int(rate * 2))} if rate else None, ips=ips or [],
        )
    except ValueError as exc:
        raise _fail(f"partner {partner_id!r}: {exc}") from exc
    save_registry(path, {**entries, partner_id: entry})
    console.print(f"[green]registered[/] {partner_id} ({role}) in {path}")
    console.print(f"secret (hex, shown once): {secret}", highlight=False, soft_wrap=True)


@partner_app.command("rotate")
def partner_rotate(partner_id: str, data_dir: DataDir = DEFAULT_DATA_DIR) -> None:
    """Give a partner a new secret; the old one keeps working until `retire`."""
    path, entries = _registry(data_dir)
    if partner_id not in entries:
        raise _fail(f"no partner {partner_id!r} in {path}")
    entry = entries[partner_id]
    if len(entry.secrets) > 1:
        raise _fail(f"{partner_id} already has two secrets; `lendguard partner retire {partner_id}` drops the old one first")
    secret = new_secret()
    entries[partner_id] = entry.model_copy(update={"secrets": [secret, *entry.secrets]})
    save_registry(path, entries)
    console.print(f"new secret for {partner_id} (the old one still verifies until retired): {secret}", highlight=False, soft_wrap=True)


@partner_app.command("retire")
def partner_retire(partner_id: str, data_dir: DataDir = DEFAULT_DATA_DIR) -> None:
    """Drop a partner's older secret once it signs with the new one."""
    path, entries = _registry(data_dir)
    if partner_id not in entries or len(entries[partner_id].secrets) < 2:
        raise _fail(f"{partner_id!r} has no older secret to retire in {path}")
    entries[partner_id] = entries[partner_id].model_copy(update={"secrets": entries[partner_id].secrets[:1]})
    save_registry(path, entries)
    console.print(f"[green]retired[/] {partner_id}'s older secret")


@partner_app.command("list")
def partner_list(data_dir: DataDir = DEFAULT_DATA_DIR) -> None:
    """The registered partners (secrets not shown)."""
    path, entries = _registry(data_dir)
    table = Table(title=f"Partners in {path}")
    for column in ("id", "name", "role", "users", "purposes", "rate", "ips", "secrets"):
        table.add_column(column)
    for pid, e in sorted(entries.items()):
        rate = f"{e.rate.per_second:g}/s ({e.rate.burst})" if e.rate else "policy"
        table.add_row(pid, e.name, e.role, ", ".join(e.users), ", ".join(e.purposes or ["any"]), rate, ", ".join(e.ips) or "any", str(len(e.secrets)))
    console.print(table)


@token_app.command("issue")
def token_issue(
    role: Annotated[str, typer.Option(help="risk_analyst, reviewer, compliance_auditor, admin, or borrower (with --user).")],
    subject: Annotated[str, typer.Option(help="Who the token is for.")],
    user: Annotated[Optional[str], typer.Option(help="The borrower's user id (borrower tokens).")] = None,
    ttl: Annotated[Optional[int], typer.Option(help="Seconds it lasts (default: the policy's token_ttl_seconds).")] = None,
    base_url: Annotated[str, typer.Option(help="Where the API runs, for the dashboard link.")] = "http://127.0.0.1:8000",
    data_dir: DataDir = DEFAULT_DATA_DIR,
    policy: PolicyPath = None,
) -> None:
    """Print a token and, for staff, the dashboard link that carries it."""
    from lendguard.security.access import role_permissions
    from lendguard.security.guard import token_secret
    from lendguard.security.tokens import TokenError, issue_token

    loaded = _policy(policy)
    if role not in role_permissions():
        raise _fail(f"unknown role {role!r}; one of {sorted(role_permissions())}")
    ttl = ttl or (loaded.security.borrower_token_ttl_seconds if role == "borrower" else loaded.security.token_ttl_seconds)
    try:
        token = issue_token(token_secret(data_dir), role=role, subject=subject, user_id=user, ttl_seconds=ttl)
    except (TokenError, ValueError) as exc:
        raise _fail(str(exc)) from exc
    console.print(token, highlight=False, soft_wrap=True)
    if role != "borrower":
        console.print(f"dashboard: {base_url.rstrip('/')}/dashboard#token={token}", highlight=False, soft_wrap=True)


def _vault(data_dir: Path, policy: PolicyPath):
    from lendguard.identity.vault import IdentityVault
    from lendguard.loans.database import open_ledger
    from lendguard.security.keyring import Keyring, KeyringError, master_key

    loaded = _policy(policy)
    try:
        sessions = open_ledger(data_dir)
        keyring = Keyring(sessions, master_key(data_dir), loaded.security.encryption.algorithm)
    except (KeyringError, ValueError) as exc:
        raise _fail(str(exc)) from exc
    return keyring, IdentityVault(sessions, keyring, loaded.security.encryption.fields)


@keys_app.command("status")
def keys_status(data_dir: DataDir = DEFAULT_DATA_DIR, policy: PolicyPath = None) -> None:
    """The data keys and how many borrowers still hold fields under an older one."""
    keyring, vault = _vault(data_dir, policy)
    table = Table(title="Data keys")
    for column in ("version", "algorithm", "wrapped by", "created", "state"):
        table.add_column(column)
    for row in keyring.versions():
        table.add_row(str(row["version"]), row["algorithm"], row["master_id"], row["created_at"], "retired" if row["retired"] else "active")
    console.print(table)
    console.print(f"{vault.count()} borrowers' records; {vault.stale_count()} with fields under an older key")


@keys_app.command("rotate")
def keys_rotate(
    reseal: Annotated[bool, typer.Option(help="Also re-encrypt every stored field under the new key.")] = True,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    policy: PolicyPath = None,
) -> None:
    """Make a new data key for new values (and, by default, reseal the old ones under it)."""
    keyring, vault = _vault(data_dir, policy)
    key = keyring.rotate()
    console.print(f"[green]data key v{key.version}[/] ({key.algorithm}) now seals new values")
    if reseal:
        _reseal(vault)


def _reseal(vault) -> None:
    total = vault.stale_count()
    with _progress() as bar:
        task = bar.add_task("resealing", total=total)
        changed = vault.reseal(lambda done, _: bar.update(task, completed=done))
    console.print(f"resealed {changed} borrowers' records under the active key")


@keys_app.command("reseal")
def keys_reseal(data_dir: DataDir = DEFAULT_DATA_DIR, policy: PolicyPath = None) -> None:
    """Re-encrypt fields still sealed under older data keys (resumable: a crash loses nothing)."""
    _, vault = _vault(data_dir, policy)
    _reseal(vault)


@keys_app.command("rewrap")
def keys_rewrap(data_dir: DataDir = DEFAULT_DATA_DIR, policy: PolicyPath = None) -> None:
    """Re-wrap the data keys under a new master key: LENDGUARD_MASTER_KEY is the new one,
    LENDGUARD_MASTER_KEY_PREVIOUS the old. Sealed fields are not touched."""
    from lendguard.security.keyring import KeyringError, previous_master_key

    keyring, _ = _vault(data_dir, policy)
    try:
        old = previous_master_key()
    except KeyringError as exc:
        raise _fail(str(exc)) from exc
    if old is None:
        raise _fail("set LENDGUARD_MASTER_KEY_PREVIOUS to the old master key (and LENDGUARD_MASTER_KEY to the new one)")
    console.print(f"[green]rewrapped[/] {keyring.rewrap(old)} data keys under the new master key")
