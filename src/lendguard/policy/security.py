"""The policy's security section: how old a signed request may be, how long people's tokens
last, the default rate limits and the cipher for personal data (SPEC §7).

Partners' keys and their own limits are not policy: they live in the partner registry
(`lendguard partner add`), which holds secrets a risk team's policy file must not.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from lendguard.policy.base import Strict


class RateLimit(Strict):
    """A token bucket: `per_second` sustained, up to `burst` at once."""

    per_second: float = Field(gt=0)
    burst: int = Field(ge=1)


class EncryptionPolicy(Strict):
    algorithm: Literal["SM4-GCM", "AES-256-GCM"]  # the cipher of new data keys
    fields: list[Literal["phone", "id_number", "bank_card", "name"]] = Field(min_length=1)


class SecurityPolicy(Strict):
    signature_window_seconds: int = Field(ge=1, le=3600)  # a signed request's timestamp may be this far from the server's clock
    nonce_ttl_seconds: int = Field(ge=1)  # a nonce is remembered this long (at least twice the window)
    token_ttl_seconds: int = Field(ge=60)  # staff tokens (analyst, reviewer, auditor, admin)
    borrower_token_ttl_seconds: int = Field(ge=60)  # borrower tokens a front-end partner issues
    partner_rate: RateLimit  # each partner's default bucket (its registry entry may set its own)
    ip_rate: RateLimit  # each client IP's bucket (partners with an IP allow-list are exempt)
    encryption: EncryptionPolicy

    @model_validator(mode="after")
    def _nonces_outlive_the_window(self) -> SecurityPolicy:
        if self.nonce_ttl_seconds < 2 * self.signature_window_seconds:
            raise ValueError(
                f"nonce_ttl_seconds ({self.nonce_ttl_seconds}) must be at least twice signature_window_seconds "
                f"({self.signature_window_seconds}), or a replay inside the window would be let through"
            )
        return self
