"""A partner's side of signed requests: an httpx auth that signs every request it sends.

    client = httpx.Client(base_url=url, auth=PartnerSigner("mini-backend", secret))
"""

from __future__ import annotations

import secrets as _secrets
import time
from collections.abc import Generator

import httpx

from lendguard.security.signing import (
    NONCE_HEADER,
    PARTNER_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    signature,
)


class PartnerSigner(httpx.Auth):
    requires_request_body = True

    def __init__(self, partner_id: str, secret: bytes | str, clock=time.time) -> None:
        self.partner_id = partner_id
        self.secret = bytes.fromhex(secret) if isinstance(secret, str) else secret
        self.clock = clock

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        timestamp, nonce = str(int(self.clock())), _secrets.token_urlsafe(18)
        query = request.url.query.decode() if isinstance(request.url.query, bytes) else request.url.query
        request.headers[PARTNER_HEADER] = self.partner_id
        request.headers[TIMESTAMP_HEADER] = timestamp
        request.headers[NONCE_HEADER] = nonce
        request.headers[SIGNATURE_HEADER] = signature(self.secret, request.method, request.url.path, query, timestamp, nonce, request.content)
        yield request


class BearerToken(httpx.Auth):
    """A person's token (borrower, analyst, reviewer, auditor, admin)."""

    def __init__(self, token: str) -> None:
        self.token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.token}"
        yield request
