"""The versioned policy file: every threshold, table and weight the engines use."""

from lendguard.policy.loader import (
    Policy,
    PolicyError,
    default_policy_path,
    load_policy,
)

__all__ = ["Policy", "PolicyError", "default_policy_path", "load_policy"]
