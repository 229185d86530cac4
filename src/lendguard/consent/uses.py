"""What an engine declares it reads: data categories, in which form, for which purpose.

An engine never reads events directly; it hands its declaration to the data gate,
which returns only what the user's grants cover (SPEC §4).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Form = Literal["rows", "aggregate"]
ROWS: Form = "rows"
AGGREGATE: Form = "aggregate"


@dataclass(frozen=True)
class DataUse:
    """One read: a data category, as raw rows or as the de-identified aggregate, for a purpose."""

    category: str
    form: Form
    purpose: str

    @property
    def key(self) -> str:
        """Column name of the per-user availability flag of this use."""
        return f"consent__{self.category}__{self.form}__{self.purpose}"


@dataclass(frozen=True)
class EngineUses:
    """An engine's whole declaration: its name and every use it may make of user data."""

    engine: str
    uses: tuple[DataUse, ...]
    external: bool = False  # the data leave the lender's domain (a partner, another platform)

    def rows_purpose(self, category: str) -> str | None:
        return next((u.purpose for u in self.uses if u.category == category and u.form == ROWS), None)
