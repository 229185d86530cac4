"""Load a policy file, validate it, and fingerprint it for the decisions it governs."""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import polars as pl
from pydantic import ValidationError

from lendguard.policy.model import PolicyDocument

DEFAULT_POLICY_NAME = "default.toml"


class PolicyError(ValueError):
    """A policy file that cannot be used; the message names the file and each bad key."""


@dataclass(frozen=True)
class Policy:
    """A validated policy with the tables it references and its fingerprint."""

    document: PolicyDocument
    sha256: str
    source: str
    geography: pl.DataFrame = field(repr=False)
    consent_text_hashes: dict[str, str] = field(default_factory=dict)  # text version -> SHA-256

    @property
    def version(self) -> str:
        return self.document.policy.version

    @property
    def timezone(self) -> str:
        return self.document.policy.timezone

    def __getattr__(self, name: str):
        # policy.visibility, policy.windows ... read straight through to the document.
        return getattr(self.document, name)


def default_policy_path() -> Path:
    return Path(str(resources.files("lendguard.policy").joinpath(DEFAULT_POLICY_NAME)))


def load_policy(path: str | Path | None = None) -> Policy:
    """Read and validate a policy file (the shipped default when `path` is None)."""
    policy_path = Path(path) if path is not None else default_policy_path()
    try:
        raw = policy_path.read_bytes()
    except OSError as exc:
        raise PolicyError(f"{policy_path}: cannot read policy file ({exc.strerror})") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PolicyError(f"{policy_path}: not valid TOML: {exc}") from exc
    return policy_from_mapping(data, raw, policy_path)


def policy_from_mapping(data: dict, raw: bytes, policy_path: Path) -> Policy:
    try:
        document = PolicyDocument.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(format_validation_error(policy_path, exc)) from exc
    geography_path = policy_path.parent / document.visibility.region.geography_file
    geography, geography_raw = _load_geography(geography_path, policy_path)
    texts = _load_consent_texts(document, policy_path)
    fingerprint = hashlib.sha256(raw + b"\0" + geography_raw)
    for version in sorted(texts):
        fingerprint.update(b"\0" + version.encode() + b"\0" + texts[version].encode())
    _check_references(document, geography, policy_path)
    return Policy(document=document, sha256=fingerprint.hexdigest(), source=str(policy_path), geography=geography, consent_text_hashes=texts)


def _load_consent_texts(document: PolicyDocument, policy_path: Path) -> dict[str, str]:
    """SHA-256 of every consent text file: a grant proves which text the user saw."""
    hashes = {}
    for version, name in document.consent.texts.items():
        path = policy_path.parent / name
        try:
            hashes[version] = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as exc:
            raise PolicyError(f"{policy_path}: consent.texts.{version}: cannot read {path} ({exc.strerror})") from exc
    return hashes


def format_validation_error(source: Path | str, exc: ValidationError) -> str:
    lines = [f"{source}: invalid policy ({exc.error_count()} problem(s))"]
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"]) or "(top level)"
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown key (not part of the policy schema; check the spelling)"
        elif error["type"] == "missing":
            message = "required key is missing"
        lines.append(f"  {key}: {message}")
    return "\n".join(lines)


def _load_geography(path: Path, policy_path: Path) -> tuple[pl.DataFrame, bytes]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PolicyError(
            f"{policy_path}: visibility.region.geography_file: cannot read {path} ({exc.strerror})"
        ) from exc
    frame = pl.read_csv(raw, schema={"province": pl.String, "city": pl.String, "tier": pl.String})
    bad_tiers = set(frame["tier"].unique().to_list()) - {"tier1", "new_tier1", "other", "county"}
    if bad_tiers:
        raise PolicyError(f"{path}: unknown tier(s) {sorted(bad_tiers)}")
    duplicated = frame.filter(pl.col("city").is_duplicated())["city"].unique().to_list()
    if duplicated:
        raise PolicyError(f"{path}: cities listed twice: {sorted(duplicated)[:5]}")
    return frame, raw


def _check_references(document: PolicyDocument, geography: pl.DataFrame, policy_path: Path) -> None:
    region = document.visibility.region
    cities = set(geography["city"].to_list())
    provinces = set(geography["province"].to_list())
    problems = []
    for i, city in enumerate(region.fraud_focus_cities):
        if city not in cities:
            problems.append(f"  visibility.region.fraud_focus_cities.{i}: unknown city {city!r}")
    for i, province in enumerate(region.unlicensed_provinces):
        if province not in provinces:
            problems.append(f"  visibility.region.unlicensed_provinces.{i}: unknown province {province!r}")
    for i, group in enumerate(region.restricted_groups):
        for j, city in enumerate(group.cities):
            if city not in cities:
                problems.append(f"  visibility.region.restricted_groups.{i}.cities.{j}: unknown city {city!r}")
    if problems:
        raise PolicyError("\n".join([f"{policy_path}: invalid policy ({len(problems)} problem(s))", *problems]))
