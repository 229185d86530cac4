"""The data gate: every engine's read of user data passes here and gets only what grants cover.

Pure: given the stored frames, the consent events and an engine's declaration, it
returns the rows each use may see, the de-identified aggregates the policy allows
instead, and per user which uses were available (so a check without its data says
"not assessable, consent needed" instead of reading absence as risk).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import polars as pl

from lendguard.consent.aggregates import AGGREGATES
from lendguard.consent.state import active_grants
from lendguard.consent.uses import AGGREGATE, ROWS, DataUse, EngineUses
from lendguard.events.columns import empty_frame
from lendguard.events.schema import EVENT_TYPES
from lendguard.features.window import AsOf
from lendguard.policy import Policy


class ConsentDeclarationError(ValueError):
    """An engine declared a use the policy cannot serve (unknown category, purpose, or form)."""


@dataclass(frozen=True)
class GatedData:
    frames: dict[str, pl.LazyFrame]  # rows an engine may read, per event type (empty if none)
    aggregates: dict[str, pl.LazyFrame]  # per category: the aggregate per user
    availability: pl.DataFrame  # user_id + one Boolean column per use key
    allowed: dict[DataUse, pl.DataFrame]  # the users each use covered (for the access log)
    consent_at: dt.datetime
    users: pl.LazyFrame  # every user any raw frame names (ids only: who exists, not their data)


def check_declaration(uses: EngineUses, policy: Policy) -> None:
    consent = policy.consent
    row_categories = [u.category for u in uses.uses if u.form == ROWS]
    twice = sorted({c for c in row_categories if row_categories.count(c) > 1})
    if twice:
        raise ConsentDeclarationError(f"{uses.engine}: rows of {twice} declared for more than one purpose")
    for use in uses.uses:
        category = consent.categories.get(use.category)
        if category is None:
            raise ConsentDeclarationError(f"{uses.engine}: unknown data category {use.category!r}")
        if use.purpose not in consent.purposes:
            raise ConsentDeclarationError(f"{uses.engine}: unknown purpose {use.purpose!r} for {use.category!r}")
        if uses.external and not category.shareable:
            raise ConsentDeclarationError(
                f"{uses.engine}: {use.category!r} data never leave the lender's domain (policy: shareable = false)"
            )
        if use.form == AGGREGATE and (category.aggregate_scope is None or use.category not in AGGREGATES):
            raise ConsentDeclarationError(f"{uses.engine}: the policy allows no aggregate of {use.category!r}")


def scopes_for(use: DataUse, policy: Policy) -> list[str]:
    """Scopes any one of which unlocks the use (the aggregate also opens under its lower scope)."""
    category = policy.consent.categories[use.category]
    if use.form == AGGREGATE and category.aggregate_scope is not None:
        return [category.scope, category.aggregate_scope]
    return [category.scope]


def scope_to_ask(use: DataUse, policy: Policy) -> str:
    """The scope to ask a user for when the use is unavailable: the lowest that unlocks it."""
    scopes = policy.consent.scopes
    return min(scopes_for(use, policy), key=lambda s: scopes[s].layer)


def use_availability(grants: pl.DataFrame, uses: EngineUses, policy: Policy) -> pl.DataFrame:
    """user_id plus one Boolean per use: do the user's grants cover it (one pass over the grants)."""
    covered = [
        (pl.col("scope").is_in(scopes_for(use, policy)) & (pl.col("purpose") == use.purpose)).any().alias(use.key)
        for use in uses.uses
    ]
    return grants.lazy().group_by("user_id").agg(covered).collect()


def gate(
    frames: Mapping[str, pl.LazyFrame | pl.DataFrame],
    uses: EngineUses,
    policy: Policy,
    as_of: AsOf,
    consent_at: dt.datetime,
    population: pl.LazyFrame | pl.DataFrame | None = None,
) -> GatedData:
    """The part of `frames` that `uses` may read under the grants in force at `consent_at`.

    `population` (every user any of `frames` names, e.g. the store's registry) lets the
    gate filter by whichever set is smaller: the covered users, or the others.
    """
    check_declaration(uses, policy)
    raw = {t: _lazy(frames.get(t), t) for t in EVENT_TYPES}
    grants = active_grants(raw["consent"], consent_at).collect()
    availability = use_availability(grants, uses, policy)
    allowed = {use: availability.filter(pl.col(use.key)).select("user_id") for use in uses.uses}
    if population is None:
        users = pl.concat([raw[t].select("user_id").unique() for t in EVENT_TYPES]).unique()
        everyone = None
    else:
        # Every user of the population with their flags (False where no grant at all).
        everyone = (
            population.lazy().select("user_id").join(availability.lazy(), on="user_id", how="left")
            .with_columns(pl.col(u.key).fill_null(False) for u in uses.uses)
            .collect()
        )
        users = everyone.lazy().select("user_id")

    gated: dict[str, pl.LazyFrame] = {t: empty_frame(t).lazy() for t in EVENT_TYPES}
    gated["consent"] = raw["consent"]  # the lender's own record of the grants, not user data
    aggregates: dict[str, pl.LazyFrame] = {}
    for use, covered in allowed.items():
        category = policy.consent.categories[use.category]
        if use.form == ROWS:
            keep = _keep(use, covered, everyone)
            for event_type in category.event_types:
                gated[event_type] = keep(raw[event_type])
        else:
            keep = _keep(use, covered, everyone)
            source = {t: keep(raw[t]) for t in category.event_types}
            aggregates[use.category] = AGGREGATES[use.category](source, as_of, policy)
    return GatedData(gated, aggregates, availability, allowed, consent_at, users)


def _keep(use: DataUse, covered: pl.DataFrame, everyone: pl.DataFrame | None) -> Callable[[pl.LazyFrame], pl.LazyFrame]:
    """A row filter to the covered users' rows, by a set membership test on the smaller set.

    Most users grant most scopes, so excluding the few others (or, when every user of
    the population is covered, filtering nothing) costs far less than probing a set of
    nearly everyone for each of tens of millions of rows.
    """
    ids = covered["user_id"]
    if everyone is not None:
        others = everyone.filter(~pl.col(use.key))["user_id"]
        if others.len() == 0:
            return lambda frame: frame
        if others.len() < ids.len():
            return lambda frame: frame.filter(~pl.col("user_id").is_in(others.implode()))
    return lambda frame: frame.filter(pl.col("user_id").is_in(ids.implode()))


def _lazy(frame: pl.LazyFrame | pl.DataFrame | None, event_type: str) -> pl.LazyFrame:
    if frame is None:
        return empty_frame(event_type).lazy()
    return frame.lazy() if isinstance(frame, pl.DataFrame) else frame
