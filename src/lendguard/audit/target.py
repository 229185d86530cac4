"""An audit target: a lending offering described as a directory of files or one bundle file.

Every part is optional and typed; a part that is present but malformed is refused with the
file and field that are wrong (a typo must never make a rule silently skip its check).
Each part remembers the file it came from, so a finding can point at its evidence.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import polars as pl
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class AuditTargetError(ValueError):
    """A target the auditor cannot read; the message names the file and the field."""


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TargetInfo(_Part):
    name: str = ""
    description: str = ""
    kind: Literal["own", "third_party"] = "third_party"
    regions: list[str] = []


class Fee(_Part):
    name: str = Field(min_length=1)
    amount: Decimal | None = Field(default=None, ge=0)
    rate: Decimal | None = Field(default=None, ge=0)  # share of the principal
    charged: Literal["upfront", "monthly", "at_maturity"] = "upfront"
    withheld: bool = False  # deducted from the disbursement

    @model_validator(mode="after")
    def _one_measure(self) -> Fee:
        if (self.amount is None) == (self.rate is None):
            raise ValueError("a fee gives exactly one of `amount` and `rate`")
        return self

    def money(self, principal: Decimal) -> Decimal:
        """The fee in money, each time it is charged."""
        return self.amount if self.amount is not None else (principal * self.rate).quantize(Decimal("0.01"))


class Repayment(_Part):
    period: int = Field(ge=1)
    amount: Decimal = Field(ge=0)


class Product(_Part):
    name: str = ""
    currency: str = "CNY"
    principal: Decimal = Field(gt=0)
    disbursed: Decimal | None = Field(default=None, ge=0)
    term_months: int = Field(ge=1, le=600)
    method: Literal["equal_installment", "equal_principal", "interest_first", "bullet"]
    annual_rate: Decimal | None = Field(default=None, ge=0)
    monthly_rate: Decimal | None = Field(default=None, ge=0)
    daily_rate: Decimal | None = Field(default=None, ge=0)
    disclosed_apr: Decimal | None = Field(default=None, ge=0)
    fees: list[Fee] = []
    schedule: list[Repayment] | None = None

    @model_validator(mode="after")
    def _one_rate(self) -> Product:
        given = [n for n in ("annual_rate", "monthly_rate", "daily_rate") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of annual_rate, monthly_rate, daily_rate (got {given or 'none'})")
        return self

    @property
    def amount_disbursed(self) -> Decimal:
        return self.principal if self.disbursed is None else self.disbursed

    @property
    def nominal_annual_rate(self) -> Decimal:
        """The nominal yearly rate the terms state (a daily rate counts 365 days)."""
        if self.annual_rate is not None:
            return self.annual_rate
        if self.monthly_rate is not None:
            return self.monthly_rate * 12
        return self.daily_rate * 365


class Permission(_Part):
    name: str = Field(min_length=1)
    purpose: str = Field(min_length=1)
    requested_at: str = Field(min_length=1)


class Manifest(_Part):
    integration: Literal["mini_program", "h5", "api"]
    product_type: str = "credit"
    purposes: list[str] = []
    permissions: list[Permission] = []


class Checkbox(_Part):
    id: str = Field(min_length=1)
    label: str = ""
    purposes: list[str] = Field(min_length=1)
    default_checked: bool = False


class Screen(_Part):
    id: str = Field(min_length=1)
    stage: str | None = None
    text: str = ""
    font_size_px: float | None = Field(default=None, gt=0)
    hidden: bool = False
    checkboxes: list[Checkbox] = []


class Consent(_Part):
    screens: list[Screen] = Field(min_length=1)


class Message(_Part):
    id: str = Field(min_length=1)
    kind: Literal["template", "sample"] = "sample"
    text: str = Field(min_length=1)
    sent_at: dt.datetime | None = None
    send_hour: int | None = Field(default=None, ge=0, le=23)
    recipient: Literal["borrower", "contact", "relative", "employer"] = "borrower"


class Collection(_Part):
    messages: list[Message] = Field(min_length=1)


class RetentionCategory(_Part):
    retention_days: int = Field(ge=0)


class Deletion(_Part):
    path: str | None = None
    days_after_withdrawal: int | None = Field(default=None, ge=0)


class Retention(_Part):
    categories: dict[str, RetentionCategory] = {}
    deletion: Deletion = Deletion()


class Licence(_Part):
    kind: str = Field(min_length=1)
    regions: list[str] = Field(min_length=1)
    number: str | None = None


class Partner(_Part):
    name: str = Field(min_length=1)
    role: Literal["channel", "funder", "guarantor", "data_provider", "collector"]
    regions: list[str] = []
    licences: list[Licence] = []
    controller: str | None = None


class Partners(_Part):
    partners: list[Partner] = Field(min_length=1)


class OverrideRecord(_Part):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    review_id: str = Field(min_length=1)
    reviewer: str = ""
    user_id: str = ""
    kind: Literal["risk_level", "line"]
    from_: str = Field(alias="from")
    to: str
    verified: bool = False
    at: dt.datetime | None = None


@dataclass(frozen=True)
class Contract:
    name: str  # the file (or bundle key) it came from
    lang: Literal["zh", "en"]
    text: str


ACCESS_LOG_SCHEMA = {"ts": pl.Datetime("us", "UTC"), "client_id": pl.String, "ip": pl.String, "user_agent": pl.String,
                     "action": pl.String, "user_id": pl.String, "endpoint": pl.String}
OFFERS_SCHEMA = {"applicant_id": pl.String, "channel": pl.String, "score_band": pl.String, "dimensions": pl.String, "apr": pl.Float64}

# Part name -> the file it is read from in a directory target.
PART_FILES = {
    "info": "target.yaml", "product": "product.yaml", "manifest": "manifest.json", "consent": "consent.yaml",
    "contracts": "contracts/", "collection": "collection.yaml", "retention": "retention.yaml",
    "access_log": "access_log.csv", "partners": "partners.yaml", "offers": "offers.csv", "reviews": "reviews.jsonl",
}
_MODELS = {"info": TargetInfo, "product": Product, "manifest": Manifest, "consent": Consent, "collection": Collection,
           "retention": Retention, "partners": Partners}


@dataclass
class AuditTarget:
    root: Path
    info: TargetInfo = field(default_factory=TargetInfo)
    product: Product | None = None
    manifest: Manifest | None = None
    consent: Consent | None = None
    contracts: list[Contract] = field(default_factory=list)
    collection: Collection | None = None
    retention: Retention | None = None
    access_log: pl.DataFrame | None = None
    partners: Partners | None = None
    offers: pl.DataFrame | None = None
    reviews: list[OverrideRecord] | None = None
    sources: dict[str, str] = field(default_factory=dict)  # part -> where it was read from

    @property
    def name(self) -> str:
        return self.info.name or self.root.name

    def source(self, part: str) -> str:
        return self.sources.get(part, PART_FILES.get(part, part))

    def present(self, part: str) -> bool:
        value = getattr(self, part)
        return bool(value) if part == "contracts" else value is not None


# ---- loading -----------------------------------------------------------------------------------
def load_target(path: str | Path) -> AuditTarget:
    """A target from a directory of part files, or from one JSON/YAML bundle file."""
    path = Path(path)
    if not path.exists():
        raise AuditTargetError(f"{path}: no such file or directory")
    if path.is_dir():
        bundles = [p for p in (path / "bundle.yaml", path / "bundle.yml", path / "bundle.json") if p.exists()]
        return _from_bundle(bundles[0]) if bundles else _from_directory(path)
    return _from_bundle(path)


def _from_directory(root: Path) -> AuditTarget:
    target = AuditTarget(root=root)
    known = {name.rstrip("/") for name in PART_FILES.values()} | {"expected.yaml", "README.md"}
    for name, model in _MODELS.items():
        file = root / PART_FILES[name]
        if file.exists():
            setattr(target, name, _validate(model, _read_structured(file), file.name))
            target.sources[name] = file.name
    if (root / "access_log.csv").exists():
        target.access_log = _access_log(_read_csv(root / "access_log.csv"), "access_log.csv")
    if (root / "offers.csv").exists():
        target.offers = _offers(_read_csv(root / "offers.csv"), "offers.csv")
    if (root / "reviews.jsonl").exists():
        target.reviews = _reviews(_read_jsonl(root / "reviews.jsonl"), "reviews.jsonl")
    folder = root / "contracts"
    if folder.is_dir():
        for file in sorted(folder.iterdir()):
            if file.suffix in (".txt", ".md"):
                target.contracts.append(_contract(f"contracts/{file.name}", file.read_text(encoding="utf-8")))
    strays = [p.name for p in root.iterdir() if p.name not in known and not p.name.startswith(".")]
    if strays:
        raise AuditTargetError(f"{root}: files the auditor does not know: {sorted(strays)} (expected some of {sorted(known)})")
    return target


def _from_bundle(file: Path) -> AuditTarget:
    data = _read_structured(file)
    if not isinstance(data, dict):
        raise AuditTargetError(f"{file.name}: a bundle is a mapping of parts, got {type(data).__name__}")
    allowed = {"target", "product", "manifest", "consent", "contracts", "collection", "retention", "access_log", "partners", "offers", "reviews"}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise AuditTargetError(f"{file.name}: unknown parts {unknown}; a bundle holds {sorted(allowed)}")
    target = AuditTarget(root=file.parent if file.name.startswith("bundle.") else file)
    for key, value in data.items():
        part = "info" if key == "target" else key
        where = f"{file.name}: {key}"
        target.sources[part] = f"{file.name}#{key}"
        if part in _MODELS:
            setattr(target, part, _validate(_MODELS[part], value, where))
        elif part == "contracts":
            if not isinstance(value, dict):
                raise AuditTargetError(f"{where}: contracts are a mapping of name -> text")
            target.contracts = [_contract(f"{file.name}#contracts.{name}", str(text), name) for name, text in value.items()]
        elif part == "access_log":
            target.access_log = _access_log(_rows(value, where), where)
        elif part == "offers":
            target.offers = _offers(_rows(value, where), where)
        elif part == "reviews":
            target.reviews = _reviews(value, where)
    return target


def _read_structured(file: Path) -> Any:
    text = file.read_text(encoding="utf-8")
    try:
        return json.loads(text) if file.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise AuditTargetError(f"{file.name}: not valid {'JSON' if file.suffix == '.json' else 'YAML'}: {exc}") from exc


def _read_csv(file: Path) -> list[dict]:
    try:
        return pl.read_csv(file, infer_schema=False).to_dicts()
    except pl.exceptions.PolarsError as exc:
        raise AuditTargetError(f"{file.name}: not a readable CSV: {exc}") from exc


def _read_jsonl(file: Path) -> list[dict]:
    rows = []
    for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise AuditTargetError(f"{file.name}: line {number}: not JSON: {exc}") from exc
    return rows


def _rows(value: Any, where: str) -> list[dict]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise AuditTargetError(f"{where}: a list of rows (mappings) is expected")
    return value


def _validate(model: type[BaseModel], data: Any, where: str) -> Any:
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors()[:6])
        raise AuditTargetError(f"{where}: {problems}") from exc


def _frame(rows: list[dict], schema: dict, where: str, required: set[str]) -> pl.DataFrame:
    if rows:
        missing = required - set(rows[0])
        if missing:
            raise AuditTargetError(f"{where}: missing columns {sorted(missing)}")
    table = {name: [None if r.get(name) in ("", None) else str(r.get(name)) for r in rows] for name in schema}
    frame = pl.DataFrame(table, schema={n: pl.String for n in schema})
    try:
        casts = []
        for name, dtype in schema.items():
            if dtype == pl.Float64:
                casts.append(pl.col(name).cast(pl.Float64, strict=True))
            elif isinstance(dtype, pl.Datetime):
                casts.append(pl.col(name).str.to_datetime(time_zone="UTC", strict=True).dt.cast_time_unit("us"))
        return frame.with_columns(casts)
    except pl.exceptions.PolarsError as exc:
        raise AuditTargetError(f"{where}: a value cannot be read: {exc}") from exc


def _access_log(rows: list[dict], where: str) -> pl.DataFrame:
    return _frame(rows, ACCESS_LOG_SCHEMA, where, {"ts", "client_id", "action"})


def _offers(rows: list[dict], where: str) -> pl.DataFrame:
    return _frame(rows, OFFERS_SCHEMA, where, {"channel", "score_band", "apr"})


def _reviews(rows: Any, where: str) -> list[OverrideRecord]:
    if not isinstance(rows, list):
        raise AuditTargetError(f"{where}: a list of override records is expected")
    return [_validate(OverrideRecord, row, f"{where}: record {k + 1}") for k, row in enumerate(rows)]


_CJK = re.compile(r"[\u4e00-\u9fff]")


def _contract(name: str, text: str, key: str | None = None) -> Contract:
    stem = (key or Path(name).stem).lower()
    if stem.endswith("_zh") or stem.endswith("-zh"):
        lang = "zh"
    elif stem.endswith("_en") or stem.endswith("-en"):
        lang = "en"
    else:
        lang = "zh" if len(_CJK.findall(text)) > len(text) * 0.1 else "en"
    return Contract(name=name, lang=lang, text=text)
