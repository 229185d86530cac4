"""Bearer tokens for people (a borrower in the super-app, a risk analyst in the dashboard).

A browser or a phone cannot keep a partner's signing secret, so people carry a short-lived
token instead: `lg1.<claims>.<mac>`, the claims base64url JSON (subject, role, the borrower's
user id, expiry) and the mac an HMAC-SHA256 of them under the server's token secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass

PREFIX = "lg1"


class TokenError(ValueError):
    """The token is malformed, forged or expired; the message says which."""


@dataclass(frozen=True)
class TokenClaims:
    subject: str
    role: str
    user_id: str | None
    expires_at: int


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, claims: str) -> str:
    return _b64(hmac.new(secret, f"{PREFIX}.{claims}".encode(), hashlib.sha256).digest())


def issue_token(secret: bytes, *, role: str, subject: str, user_id: str | None = None, ttl_seconds: int = 3600, now: float | None = None) -> str:
    """A token for `subject` acting as `role` (a borrower's carries their `user_id`)."""
    if role == "borrower" and not user_id:
        raise TokenError("a borrower's token must name the borrower's user_id")
    expires = int((time.time() if now is None else now) + ttl_seconds)
    claims = _b64(json.dumps({"sub": subject, "role": role, "uid": user_id, "exp": expires}, separators=(",", ":")).encode())
    return f"{PREFIX}.{claims}.{_mac(secret, claims)}"


def read_token(secret: bytes, token: str, now: float | None = None) -> TokenClaims:
    """The claims of a genuine, unexpired token; TokenError otherwise."""
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != PREFIX:
        raise TokenError(f"a token reads {PREFIX}.<claims>.<mac>")
    if not hmac.compare_digest(_mac(secret, parts[1]), parts[2]):
        raise TokenError("the token's signature does not match (forged, or issued under another secret)")
    try:
        data = json.loads(_unb64(parts[1]))
        claims = TokenClaims(str(data["sub"]), str(data["role"]), data.get("uid"), int(data["exp"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise TokenError(f"the token's claims cannot be read: {exc}") from None
    if claims.expires_at <= (time.time() if now is None else now):
        raise TokenError("the token has expired")
    return claims
