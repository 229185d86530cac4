"""Tables of the encrypted personal data and its data keys, in the lender's database
beside the ledger (same migrations, same SQLite or PostgreSQL)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from lendguard.loans.models import Base


class DataKey(Base):
    """A data key, stored only wrapped by the master key. The newest active one seals new values."""

    __tablename__ = "data_keys"
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    algorithm: Mapped[str] = mapped_column(String(16))
    wrapped: Mapped[str] = mapped_column(Text)  # base64 of the sealed key
    master_id: Mapped[str] = mapped_column(String(16))  # which master key wrapped it (fingerprint)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    retired_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class BorrowerIdentity(Base):
    """One borrower's personal fields, each a sealed value `v<key version>:<base64>` (or null)."""

    __tablename__ = "borrower_identities"
    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str | None] = mapped_column(Text, nullable=True)
    phone: Mapped[str | None] = mapped_column(Text, nullable=True)
    id_number: Mapped[str | None] = mapped_column(Text, nullable=True)
    bank_card: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
