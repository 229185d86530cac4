"""Consent events for a grant or a withdrawal, checked against the policy's scopes and texts."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from lendguard.events.schema import Consent
from lendguard.policy import Policy


class ConsentError(ValueError):
    """A grant or withdrawal the policy does not allow (unknown scope, purpose or text)."""


def consent_problems(scope: str, purposes: Sequence[str], text_version: str, text_hash: str, policy: Policy) -> list[tuple[str, str]]:
    """(field, message) for everything wrong with a consent against the policy."""
    consent = policy.consent
    problems = []
    if scope not in consent.scopes:
        return [("scope", f"unknown scope {scope!r}; the policy has {sorted(consent.scopes)}")]
    allowed = consent.scopes[scope].purposes
    unknown = [p for p in purposes if p not in allowed]
    if unknown:
        problems.append(("purposes", f"scope {scope!r} cannot be granted for {unknown}; its purposes are {allowed}"))
    expected = policy.consent_text_hashes.get(text_version)
    if expected is None:
        problems.append(("text_version", f"unknown consent text version {text_version!r}; known: {sorted(policy.consent_text_hashes)}"))
    elif text_hash != expected:
        problems.append(("text_hash", f"does not match the SHA-256 of consent text {text_version!r} ({expected[:12]}…)"))
    return problems


def consent_event(
    user_id: str,
    scope: str,
    action: str,
    purposes: Sequence[str] | None,
    policy: Policy,
    at: dt.datetime | None = None,
    text_version: str | None = None,
    event_id: str | None = None,
) -> Consent:
    """A consent event for the current text (all of the scope's purposes when none are named)."""
    version = text_version or policy.consent.current_text
    if scope in policy.consent.scopes and not purposes:
        purposes = list(policy.consent.scopes[scope].purposes)
    purposes = list(purposes or [])
    text_hash = policy.consent_text_hashes.get(version, "")
    problems = consent_problems(scope, purposes, version, text_hash, policy)
    if problems:
        raise ConsentError("; ".join(f"{field}: {message}" for field, message in problems))
    return Consent(
        event_id=event_id or f"consent-{uuid.uuid4().hex}",
        user_id=user_id,
        ts=at or dt.datetime.now(dt.timezone.utc),
        scope=scope,
        action=action,
        purposes=purposes,
        text_version=version,
        text_hash=text_hash,
    )
