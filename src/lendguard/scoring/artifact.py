"""The scorecard on disk: `scorecard.json` (everything `score apply` and the API need, no
retraining) and `scorecard.csv` (the table a risk team reviews: feature, bin, rows, event
rate, WoE, points). Versioned by `format`; loading validates the file and names what is wrong.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from lendguard.scoring.binning import FeatureBins
from lendguard.scoring.scaling import Scale
from lendguard.scoring.scorecard import FeatureCard, Scorecard, ScorecardError

FORMAT = "lendguard-scorecard/1"
MODEL_FILE, TABLE_FILE = "scorecard.json", "scorecard.csv"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FeatureRecord(_Strict):
    name: str
    kind: Literal["numeric", "categorical"]
    edges: list[float] = Field(default_factory=list)
    groups: list[list[str]] = Field(default_factory=list)
    events: list[int]
    non_events: list[int]
    trend: str
    coefficient: float
    points: list[float]

    @model_validator(mode="after")
    def _consistent(self) -> FeatureRecord:
        body = len(self.edges) + 1 if self.kind == "numeric" else len(self.groups)
        if not (len(self.events) == len(self.non_events) == len(self.points) == body + 1):
            raise ValueError(f"feature {self.name!r}: {body} bins and a missing bin need {body + 1} events, non-events and points")
        if self.kind == "numeric" and self.edges != sorted(set(self.edges)):
            raise ValueError(f"feature {self.name!r}: edges must increase strictly")
        return self


class ScorecardFile(_Strict):
    format: Literal["lendguard-scorecard/1"]
    created_at: dt.datetime
    policy_version: str
    policy_sha256: str
    target: str
    scale: dict[str, float]
    scaling: dict[str, float]
    intercept: float
    features: list[FeatureRecord] = Field(min_length=1)
    iv: dict[str, float]
    dropped: dict[str, str]
    meta: dict[str, Any] = Field(default_factory=dict)


def save_scorecard(card: Scorecard, out: Path, policy: Any) -> dict[str, Path]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    record = ScorecardFile(
        format=FORMAT, created_at=dt.datetime.now(dt.timezone.utc), policy_version=policy.version, policy_sha256=policy.sha256,
        target=card.target, scale={"factor": card.scale.factor, "offset": card.scale.offset},
        scaling=policy.scoring.scaling.model_dump(), intercept=card.intercept,
        features=[
            FeatureRecord(
                name=f.name, kind=f.bins.kind, edges=f.bins.edges, groups=f.bins.groups, events=f.bins.events, non_events=f.bins.non_events,
                trend=f.bins.trend, coefficient=f.coefficient, points=f.points,
            )
            for f in card.features
        ],
        iv=card.iv, dropped=card.dropped, meta=card.meta,
    )
    model = out / MODEL_FILE
    partial = model.with_suffix(".json.partial")  # written whole, then swapped in: a server never reads half a model
    partial.write_text(record.model_dump_json(indent=2), encoding="utf-8")
    os.replace(partial, model)
    table = out / TABLE_FILE
    card.table().write_csv(table)
    return {"model": model, "table": table}


def load_scorecard(path: Path) -> Scorecard:
    """A scorecard from its directory (or its scorecard.json)."""
    path = Path(path)
    model = path / MODEL_FILE if path.is_dir() else path
    if not model.exists():
        raise ScorecardError(f"no scorecard at {model} (train one with `lendguard score fit`)")
    raw = model.read_bytes()
    try:
        record = ScorecardFile.model_validate(json.loads(raw.decode("utf-8")))
    except json.JSONDecodeError as exc:
        raise ScorecardError(f"{model} is not JSON: {exc}") from exc
    except ValidationError as exc:
        where = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])
        raise ScorecardError(f"{model} is not a valid scorecard: {where}") from exc
    return Scorecard(
        target=record.target,
        features=[
            FeatureCard(
                bins=FeatureBins(feature=f.name, kind=f.kind, edges=f.edges, groups=f.groups, events=f.events, non_events=f.non_events, trend=f.trend),
                coefficient=f.coefficient, points=f.points,
            )
            for f in record.features
        ],
        intercept=record.intercept, scale=Scale(**record.scale), iv=record.iv, dropped=record.dropped,
        meta={**record.meta, "policy_version": record.policy_version, "policy_sha256": record.policy_sha256, "created_at": record.created_at.isoformat(),
              "sha256": hashlib.sha256(raw).hexdigest()},
    )


def scorecard_location(policy: Any, data_dir: Path) -> Path:
    """Where the served scorecard lives: LENDGUARD_SCORECARD, else the policy's
    `scoring.model` (relative paths against the data directory)."""
    configured = os.environ.get("LENDGUARD_SCORECARD") or policy.scoring.model
    path = Path(configured)
    return path if path.is_absolute() else Path(data_dir) / path


class ScorecardSlot:
    """A served scorecard, read on first use and again whenever its file changes, so a
    retrained model is picked up without a restart. `get()` is None while there is none."""

    def __init__(self, location: Path):
        self.location = Path(location)
        self._card: Scorecard | None = None
        self._stamp: tuple[float, int] | None = None

    @property
    def file(self) -> Path:
        return self.location / MODEL_FILE if self.location.is_dir() else self.location

    def get(self) -> Scorecard | None:
        path = self.file
        try:
            stat = path.stat()
        except FileNotFoundError:
            return None
        stamp = (stat.st_mtime, stat.st_size)
        if self._card is None or stamp != self._stamp:
            try:
                card = load_scorecard(path)
            except ScorecardError:
                if self._card is None:
                    raise
                return self._card  # a bad new file: keep serving the last good card
            self._card, self._stamp = card, stamp
        return self._card


_SLOTS: dict[Path, ScorecardSlot] = {}


def served_slot(location: Path) -> ScorecardSlot:
    """The one slot per scorecard location, shared by the API and the engine, so a model is
    read once and a reload is seen by both."""
    location = Path(location).resolve()
    return _SLOTS.setdefault(location, ScorecardSlot(location))
