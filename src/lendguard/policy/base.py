"""Building blocks every policy section uses: strict sections and bilingual texts."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    """Base for policy sections: no unknown keys, immutable once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)


Share = Field(ge=0.0, le=1.0)


class Bilingual(Strict):
    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)
