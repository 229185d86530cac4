"""The policy's audit section: the limits a lending offering is checked against (SPEC §5).

Rate caps, retention limits and review bounds are not repeated here: the auditor reads
them from `loans.caps`, `consent.categories` and `reviews.bounds`, the same numbers our
own products are held to.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from lendguard.policy.base import Strict


class PermissionRule(Strict):
    """A permission a credit product may ask for: for which purposes, from which stage on."""

    purposes: list[str] = Field(min_length=1)
    needed_at: str


class ScrapingLimits(Strict):
    max_requests_per_minute: int = Field(ge=1)  # from one client, in any 60-second window
    max_users_per_hour: int = Field(ge=1)  # distinct users one client queries in any hour
    max_login_accounts_per_hour: int = Field(ge=1)  # distinct accounts one client logs into
    automation_agents: list[str]  # user-agent fragments of scripted clients (case-insensitive)


class CollectionLimits(Strict):
    first_hour: int = Field(ge=0, le=23)  # messages may be sent from this local hour...
    last_hour: int = Field(ge=1, le=24)  # ...up to (not including) this one
    min_classifier_probability: float = Field(gt=0.0, lt=1.0)  # the model's share that flags a message


class PricingLimits(Strict):
    max_apr_gap: float = Field(gt=0.0)  # between channels' mean APRs for equally qualified applicants
    min_offers_per_channel: int = Field(ge=1)


class AuditPolicy(Strict):
    apr_tolerance: float = Field(gt=0.0, lt=0.1)  # disclosed vs IRR APR, absolute
    min_consent_font_px: float = Field(gt=0)
    default_retention_days: int = Field(ge=1)  # for categories the consent policy does not name
    max_deletion_days: int = Field(ge=0)  # after a withdrawal or a deletion request
    stages: list[str] = Field(min_length=2)  # a credit journey's stages, in order
    permissions: dict[str, PermissionRule]  # what a credit product may ask; anything else is beyond need
    licences: dict[str, list[str]]  # partner role -> licence kinds that allow it; [] = none needed
    scraping: ScrapingLimits
    collection: CollectionLimits
    pricing: PricingLimits

    @model_validator(mode="after")
    def _stages_known(self) -> AuditPolicy:
        unknown = {name: rule.needed_at for name, rule in self.permissions.items() if rule.needed_at not in self.stages}
        if unknown:
            raise ValueError(f"permissions name stages not in `stages` {self.stages}: {unknown}")
        return self
