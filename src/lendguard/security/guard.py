"""The API's gate: authenticate the caller, refuse stale, replayed and over-limit requests,
and judge the request against the role matrix and the caller's scopes.

It runs as an app-wide FastAPI dependency, after routing (so it knows the route's template
and path parameters) and before the route's own code. Refusals are raised as `AccessRefused`
and rendered in the API's one error shape, with the standard rate-limit headers on 429s.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
from fastapi import Request
from redis.exceptions import RedisError
from starlette.concurrency import run_in_threadpool

from lendguard.policy.security import SecurityPolicy
from lendguard.security.access import (
    Principal,
    Refusal,
    RouteRule,
    judge,
    role_permissions,
    route_rules,
)
from lendguard.security.files import create_once
from lendguard.security.limits import (
    REDIS_ENV,
    BucketState,
    Limits,
    MemoryLimits,
    RedisLimits,
)
from lendguard.security.partners import PartnerEntry, load_registry, registry_path
from lendguard.security.signing import (
    NONCE_HEADER,
    NONCE_PATTERN,
    PARTNER_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    signature_matches,
)
from lendguard.security.tokens import TokenError, read_token

AUTH_ENV = "LENDGUARD_AUTH"
LIMITS_DOWN = (OSError, RedisError)  # the shared store down: 503 with Retry-After, never a 500
TOKEN_SECRET_ENV = "LENDGUARD_TOKEN_SECRET"
OwnerLookup = Callable[[str], str | None]


class AccessRefused(Exception):
    def __init__(self, refusal: Refusal, headers: dict[str, str] | None = None) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal
        self.headers = headers or {}


class _Batch(msgspec.Struct):
    events: list[dict] = []


def auth_enabled() -> bool:
    value = os.environ.get(AUTH_ENV, "on").lower()
    if value not in ("on", "off"):
        raise ValueError(f"{AUTH_ENV} must be on or off, not {value!r}")
    return value == "on"


def token_secret(data_dir: Path) -> bytes:
    """The secret people's tokens are signed with: env LENDGUARD_TOKEN_SECRET (hex), else a
    key file made on first use under the data dir (mode 0600)."""
    value = os.environ.get(TOKEN_SECRET_ENV)
    if value:
        try:
            secret = bytes.fromhex(value)
        except ValueError:
            raise ValueError(f"{TOKEN_SECRET_ENV} must be hex") from None
        if len(secret) < 16:
            raise ValueError(f"{TOKEN_SECRET_ENV} must hold at least 16 bytes (32 hex digits)")
        return secret
    path = data_dir / "security" / "token.key"
    try:
        secret = bytes.fromhex(create_once(path, secrets.token_hex(32)).strip())
    except ValueError:
        raise ValueError(f"{path} must hold a hex secret") from None
    if len(secret) < 16:
        raise ValueError(f"{path} holds {len(secret)} bytes; a token secret needs at least 16 (delete the file to make a new one)")
    return secret


def open_limits() -> Limits:
    url = os.environ.get(REDIS_ENV)
    return RedisLimits(url) if url else MemoryLimits()


def rate_headers(state: BucketState) -> dict[str, str]:
    """IETF RateLimit fields (and the X- names many clients still read)."""
    headers = {
        "RateLimit-Limit": str(state.limit),
        "RateLimit-Remaining": str(state.remaining),
        "RateLimit-Reset": str(int(state.reset + 0.999)),
        "X-RateLimit-Limit": str(state.limit),
        "X-RateLimit-Remaining": str(state.remaining),
    }
    if not state.allowed:
        headers["Retry-After"] = str(max(1, int(state.retry_after + 0.999)))
    return headers


@dataclass(eq=False)  # hashable: FastAPI caches dependencies by identity
class Guard:
    policy: SecurityPolicy
    partners: dict[str, PartnerEntry]
    secret: bytes
    limits: Limits
    owners: dict[str, OwnerLookup] = field(default_factory=dict)  # "loan" -> loan_id -> user_id
    enabled: bool = True
    clock: Callable[[], float] = time.time

    @classmethod
    def from_environment(cls, data_dir: Path, policy: SecurityPolicy, owners: dict[str, OwnerLookup]) -> Guard:
        return cls(policy, load_registry(registry_path(data_dir)), token_secret(data_dir), open_limits(), owners, auth_enabled())

    async def close(self) -> None:
        if isinstance(self.limits, RedisLimits):
            await self.limits.close()

    async def __call__(self, request: Request) -> None:
        if not self.enabled:
            return
        route = request.scope.get("route")
        key = f"{request.method} {getattr(route, 'path_format', request.url.path)}"
        rule = route_rules().get(key)
        if rule is None:
            raise AccessRefused(Refusal(403, "unmapped_route", f"{key} is not in the access table, so no one may call it"))
        if rule.public:
            return
        ip = request.client.host if request.client else None
        signed = "authorization" not in request.headers  # a bearer request is a person's, whatever else it carries
        partner_id = request.headers.get(PARTNER_HEADER) if signed else None
        claimed = self.partners.get(partner_id or "")
        if not (claimed and claimed.ips and claimed.allows_ip(ip)):  # a partner's own networks skip the per-IP bucket
            await self._spend(request, f"ip:{ip}", self.policy.ip_rate, "ip")
        principal = await self._authenticate(request, partner_id, claimed, ip)
        rate = claimed.rate if principal.kind == "partner" and claimed is not None and claimed.rate else self.policy.partner_rate
        await self._spend(request, f"caller:{principal.kind}:{principal.id}", rate, "caller")
        users = await self._touched_users(request, rule) if principal.user_scoped else []
        refusal = judge(principal, rule, users)
        if refusal:
            raise AccessRefused(refusal)
        request.state.principal = principal

    async def _spend(self, request: Request, key: str, rate, scope: str) -> None:
        try:
            state = await self.limits.hit(key, rate)
        except LIMITS_DOWN as exc:
            raise AccessRefused(Refusal(503, "limits_unavailable", f"the shared rate-limit store does not answer ({type(exc).__name__}); retry shortly"), {"Retry-After": "1"}) from None
        if not state.allowed:
            raise AccessRefused(Refusal(429, "rate_limited", f"too many requests for this {scope}: at most {rate.per_second:g}/s, bursts of {rate.burst}; retry after {state.retry_after:.2f}s"), rate_headers(state))
        previous = getattr(request.state, "rate_limit", None)
        if previous is None or state.remaining < previous.remaining:  # report the tighter bucket
            request.state.rate_limit = state

    async def _authenticate(self, request: Request, partner_id: str | None, partner: PartnerEntry | None, ip: str | None) -> Principal:
        authorization = request.headers.get("authorization")
        if authorization:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer" or not token:
                raise AccessRefused(Refusal(401, "invalid_token", "Authorization must be 'Bearer <token>'"))
            try:
                claims = read_token(self.secret, token.strip(), self.clock())
            except TokenError as exc:
                raise AccessRefused(Refusal(401, "invalid_token", str(exc))) from None
            permissions = role_permissions().get(claims.role)
            if permissions is None:
                raise AccessRefused(Refusal(401, "invalid_token", f"the token's role {claims.role!r} is not a role"))
            if claims.role == "borrower":
                if not claims.user_id:
                    raise AccessRefused(Refusal(401, "invalid_token", "a borrower's token must name the borrower"))
                return Principal(claims.subject, claims.role, permissions, (claims.user_id,), kind="token", users_exact=True)
            return Principal(claims.subject, claims.role, permissions, None, kind="token")
        if partner_id is None:
            raise AccessRefused(Refusal(401, "unauthenticated", f"sign the request ({PARTNER_HEADER}, {TIMESTAMP_HEADER}, {NONCE_HEADER}, {SIGNATURE_HEADER}) or send 'Authorization: Bearer <token>'"))
        if partner is None:
            raise AccessRefused(Refusal(401, "unknown_partner", f"no partner {partner_id!r} is registered"))
        missing = [h for h in (TIMESTAMP_HEADER, NONCE_HEADER, SIGNATURE_HEADER) if not request.headers.get(h)]
        if missing:
            raise AccessRefused(Refusal(401, "unsigned_request", f"a partner's request must carry {', '.join(missing)}"))
        timestamp, nonce = request.headers[TIMESTAMP_HEADER], request.headers[NONCE_HEADER]
        if not (timestamp.isascii() and timestamp.isdigit()):
            raise AccessRefused(Refusal(401, "stale_request", f"{TIMESTAMP_HEADER} must be Unix seconds, not {timestamp[:20]!r}"))
        skew = abs(self.clock() - int(timestamp))
        if skew > self.policy.signature_window_seconds:
            raise AccessRefused(Refusal(401, "stale_request", f"the request was signed {skew:.0f}s from the server's clock; at most {self.policy.signature_window_seconds}s is accepted"))
        if not NONCE_PATTERN.fullmatch(nonce):
            raise AccessRefused(Refusal(401, "bad_nonce", f"{NONCE_HEADER} must be 16 to 64 of A-Z a-z 0-9 _ -"))
        body = await request.body()
        query = request.url.query
        if not signature_matches(partner.secret_bytes(), request.headers[SIGNATURE_HEADER], request.method, request.url.path, query, timestamp, nonce, body):
            raise AccessRefused(Refusal(401, "bad_signature", "the signature does not match the request (method, path, query, timestamp, nonce and body) under the partner's secret"))
        if not partner.allows_ip(ip):
            raise AccessRefused(Refusal(403, "ip_not_allowed", f"partner {partner_id!r} may call only from its registered networks, not {ip}"))
        try:
            fresh = await self.limits.first_use(f"{partner_id}:{nonce}", self.policy.nonce_ttl_seconds)
        except LIMITS_DOWN as exc:
            raise AccessRefused(Refusal(503, "limits_unavailable", f"the shared nonce store does not answer ({type(exc).__name__}); retry shortly"), {"Retry-After": "1"}) from None
        if not fresh:
            raise AccessRefused(Refusal(401, "replayed_request", f"the nonce {nonce!r} was already used by {partner_id!r}"))
        permissions = role_permissions()[partner.role]
        if partner.permissions is not None:
            permissions = frozenset(p for p in partner.permissions if "*" in permissions or p in permissions)
        users = None if "*" in partner.users else tuple(partner.users)
        purposes = None if partner.purposes is None else frozenset(partner.purposes)
        return Principal(partner_id, partner.role, permissions, users, purposes, kind="partner")

    async def _touched_users(self, request: Request, rule: RouteRule) -> list[str | None]:
        if rule.user == "events":
            try:
                batch = msgspec.json.decode(await request.body(), type=_Batch)
            except (msgspec.ValidationError, msgspec.DecodeError):
                return []  # the route rejects a malformed batch itself
            return [e.get("user_id") if isinstance(e.get("user_id"), str) else None for e in batch.events]
        subject = rule.subject
        if subject is None:
            return []
        kind, name = subject
        if kind == "path":
            return [request.path_params.get(name)]
        if kind == "body":
            try:
                body = msgspec.json.decode(await request.body())
            except msgspec.DecodeError:
                return []
            value = body.get(name) if isinstance(body, dict) else None
            return [value if isinstance(value, str) else None]
        lookup = self.owners.get(kind)
        identifier = request.path_params.get(name)
        if lookup is None or identifier is None:
            return [None]
        return [await run_in_threadpool(lookup, identifier)]
