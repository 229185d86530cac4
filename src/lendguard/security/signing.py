"""Signed server-to-server requests, as payment-platform APIs sign them.

A partner signs `METHOD \\n PATH \\n SORTED-QUERY \\n TIMESTAMP \\n NONCE \\n SHA256(BODY)` with
HMAC-SHA256 under its secret and sends the result base64-encoded with its id, the timestamp
and the nonce in headers. The body's hash is in the signature, so neither the body nor the
query can be changed in flight; the timestamp bounds how long a captured request is good
for, and the nonce (remembered for longer than that) stops it being replayed inside it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from urllib.parse import parse_qsl, urlencode

PARTNER_HEADER = "X-LG-Partner"
TIMESTAMP_HEADER = "X-LG-Timestamp"
NONCE_HEADER = "X-LG-Nonce"
SIGNATURE_HEADER = "X-LG-Signature"
NONCE_PATTERN = re.compile(r"[A-Za-z0-9_-]{16,64}")


def canonical_request(method: str, path: str, query: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    """The exact bytes a signature covers; query parameters sorted so their order does not matter."""
    sorted_query = urlencode(sorted(parse_qsl(query, keep_blank_values=True)))
    return "\n".join([method.upper(), path, sorted_query, timestamp, nonce, hashlib.sha256(body).hexdigest()]).encode()


def signature(secret: bytes, method: str, path: str, query: str, timestamp: str, nonce: str, body: bytes) -> str:
    digest = hmac.new(secret, canonical_request(method, path, query, timestamp, nonce, body), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def signature_matches(secrets: list[bytes], given: str, method: str, path: str, query: str, timestamp: str, nonce: str, body: bytes) -> bool:
    """True when any of the partner's current secrets made `given` (two during a key rotation)."""
    return any(hmac.compare_digest(signature(s, method, path, query, timestamp, nonce, body), given) for s in secrets)
