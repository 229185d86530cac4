"""The policy file: the default loads; a bad policy is rejected naming the key."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lendguard.policy import PolicyError, default_policy_path, load_policy


@pytest.fixture
def policy_copy(tmp_path: Path) -> Path:
    source = default_policy_path()
    shutil.copy(source, tmp_path / "policy.toml")
    for companion in ("geography.csv", *sorted(p.name for p in source.parent.glob("consent-*.md"))):
        shutil.copy(source.parent / companion, tmp_path / companion)
    return tmp_path / "policy.toml"


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def test_default_policy_loads_with_version_and_hash():
    policy = load_policy()
    assert policy.version
    assert len(policy.sha256) == 64
    assert policy.visibility.credit.min_payments_per_month > 0
    assert policy.geography.height > 0


def test_hash_changes_with_content_and_geography(policy_copy: Path):
    before = load_policy(policy_copy).sha256
    edit(policy_copy, "min_payments_per_month = 15", "min_payments_per_month = 16")
    after = load_policy(policy_copy).sha256
    assert before != after
    with open(policy_copy.parent / "geography.csv", "a") as handle:
        handle.write("Guangdong,Guangdong-C99,county\n")
    assert load_policy(policy_copy).sha256 != after


def test_edited_threshold_is_used(policy_copy: Path):
    edit(policy_copy, "min_payments_per_month = 15", "min_payments_per_month = 21")
    assert load_policy(policy_copy).visibility.credit.min_payments_per_month == 21


@pytest.mark.parametrize(
    "old, new, key, words",
    [
        ("min_payments_per_month = 15", "min_payments_per_mnth = 15", "visibility.credit.min_payments_per_mnth", "unknown key"),
        ("min_payments_per_month = 15", 'min_payments_per_month = "many"', "visibility.credit.min_payments_per_month", "integer"),
        ("warn_offline_share = 0.35", "warn_offline_share = 0.20", "visibility.payment_behaviour", "warn_offline_share must be >= min_offline_share"),
        ("grade_a_min = 90", "grade_a_min = 60", "visibility.device_security", "grade_a_min must be > grade_b_min"),
        ("max_high_risk_contact_share = 0.30", "max_high_risk_contact_share = 1.30", "visibility.credit.max_high_risk_contact_share", "less than or equal to 1"),
        ('timezone = "Asia/Shanghai"', 'timezone = "Mars/Olympus"', "policy.timezone", "unknown time zone"),
        ('unlicensed_provinces = ["Qinghai",', 'unlicensed_provinces = ["Atlantis",', "visibility.region.unlicensed_provinces.0", "unknown province"),
        ("lookback_days = 90", "lookback_days = 100", "windows", "whole number of months"),
        ("[consent.scopes.deep_credit]", "[consent.scopes.deep_credit_v2]", "scopes.deep_credit_v2", "a new layer needs a schema version"),
    ],
)
def test_bad_policy_is_rejected_naming_the_key(policy_copy: Path, old, new, key, words):
    edit(policy_copy, old, new)
    with pytest.raises(PolicyError) as caught:
        load_policy(policy_copy)
    message = str(caught.value)
    assert str(policy_copy) in message
    assert key in message
    assert words in message


def test_missing_section_and_bad_toml(policy_copy: Path):
    text = policy_copy.read_text()
    policy_copy.write_text(text.replace("[windows]\n", "[windows_renamed]\n"))
    with pytest.raises(PolicyError, match="windows: required key is missing"):
        load_policy(policy_copy)
    policy_copy.write_text("this is = not [toml")
    with pytest.raises(PolicyError, match="not valid TOML"):
        load_policy(policy_copy)
    with pytest.raises(PolicyError, match="cannot read policy file"):
        load_policy(policy_copy.parent / "nope.toml")


def test_gray_release_bands_must_be_ordered(policy_copy: Path):
    edit(policy_copy, 'min_version = "8.0.40"', 'min_version = "8.0.10"')
    with pytest.raises(PolicyError, match="bands must be listed from the highest min_version down"):
        load_policy(policy_copy)
