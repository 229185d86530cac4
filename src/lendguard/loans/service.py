"""Use cases of lending: a user's offers from their visibility decision, and a line
opened only on an offer the user is admitted to (no API bypasses the whitelist)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import polars as pl

from lendguard.features.window import AsOf
from lendguard.loans.book import LedgerError, LoanBook
from lendguard.loans.offers import Offer, offers_for
from lendguard.visibility.service import VisibilityService


class LendingService:
    def __init__(self, visibility: VisibilityService, book: LoanBook):
        self.visibility = visibility
        self.book = book
        self.policy = book.policy

    def offers(self, user_id: str, as_of: AsOf) -> list[Offer] | None:
        """Every product's offer for the user (None when the user has no events)."""
        row = self.visibility.decision_row(user_id, as_of)
        if row is None:
            return None
        frame = pl.DataFrame([row], schema=self.visibility.row_schema(as_of))
        return offers_for(frame, self.policy, as_of.local_date)

    def open_line(self, user_id: str, product_id: str, key: str, as_of: AsOf) -> dict[str, Any]:
        if product_id not in self.policy.loans.products:
            raise LedgerError("unknown_product", f"no product {product_id!r}; the policy offers {sorted(self.policy.loans.products)}", 404)
        offers = self.offers(user_id, as_of)
        if offers is None:
            raise LedgerError("unknown_user", f"no events for user {user_id!r}", 404)
        offer = next(o for o in offers if o.product_id == product_id)
        return self.book.open_line(offer, user_id, key, as_of.at)

    def apply(
        self, user_id: str, product_id: str, amount: Decimal | str, term_months: int, method: str | None, key: str, as_of: AsOf,
        at: dt.datetime | None = None,
    ) -> dict[str, Any]:
        """A loan in one call: the user's line on the product (opened from their offer, judged
        `as_of`, when there is none yet), then the drawdown at `at` (default now)."""
        return self.book.apply(
            user_id, product_id, lambda line_key: self.open_line(user_id, product_id, line_key, as_of), amount, term_months, method, key, at
        )
