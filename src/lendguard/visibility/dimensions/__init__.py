"""The eight dimensions of entry visibility (SPEC §1), one module each."""

from lendguard.policy import Policy
from lendguard.visibility.check import Check
from lendguard.visibility.dimensions import (
    anti_fraud,
    credit,
    device_security,
    gray_release,
    kyc,
    partner_data,
    payment_behaviour,
    region,
)

ALL_CHECKS: tuple[Check, ...] = (
    *credit.CHECKS,
    *region.CHECKS,
    *kyc.CHECKS,
    *payment_behaviour.CHECKS,
    *partner_data.CHECKS,
    *device_security.CHECKS,
    *gray_release.CHECKS,
    *anti_fraud.CHECKS,
)
CHECKS_BY_CODE: dict[str, Check] = {c.code: c for c in ALL_CHECKS}


def active_checks(policy: Policy) -> tuple[Check, ...]:
    """The checks this policy decides by: every check, except that the credit dimension
    holds only those `visibility.credit.checks` lists (thresholds, the score, or both)."""
    chosen = set(policy.visibility.credit.checks)
    return tuple(c for c in ALL_CHECKS if c.dimension != credit.DIMENSION or c.code in chosen)
