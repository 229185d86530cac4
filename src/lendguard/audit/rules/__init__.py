"""The audit rules, one module each. A module declares the rule ids it reports (`RULES`),
the target parts it reads (`PARTS`; without them it is *not checked*), and
`check(target, policy) -> list[Finding]`."""

from lendguard.audit.rules import (
    apr,
    channels,
    collection,
    consent,
    contract,
    head_cut,
    overrides,
    permissions,
    pricing,
    retention,
    scraping,
)

MODULES = (apr, head_cut, permissions, consent, retention, scraping, channels, collection, pricing, overrides, contract)
