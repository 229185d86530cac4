"""The shape every dashboard section shares: a status, a message in Chinese and English when
there is nothing (or something wrong) to show, and the section's numbers as plain JSON."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import numpy as np

OK, EMPTY, ERROR = "ok", "empty", "error"


def ok(**data: Any) -> dict[str, Any]:
    return {"status": OK, "message": None, **plain(data)}


def empty(en: str, zh: str, **data: Any) -> dict[str, Any]:
    """Nothing to show yet (no decisions, no loans, no scorecard): the message says why and what makes it."""
    return {"status": EMPTY, "message": {"en": en, "zh": zh}, **plain(data)}


def failed(exc: BaseException) -> dict[str, Any]:
    """A part that could not be computed: the page shows the reason, the other sections still load."""
    text = f"{type(exc).__name__}: {exc}"
    return {"status": ERROR, "message": {"en": f"This section could not be computed: {text}", "zh": f"本栏无法计算：{text}"}}


def share(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def plain(value: Any) -> Any:
    """JSON-ready: money and numpy numbers as floats, times as ISO strings, NaN and infinity as null."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return plain(dataclasses.asdict(value))
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating, Decimal)):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if hasattr(value, "model_dump"):  # pydantic models (audit findings)
        return plain(value.model_dump(mode="json"))
    return value
