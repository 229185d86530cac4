"""The eight dimensions of entry visibility (SPEC §1), one module each."""

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
