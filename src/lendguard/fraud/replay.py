"""Stored events replayed in event-time order, as the engine would have seen them live.

Used by the backtest of a draft rule and by `lendguard fraud run --from-store`.
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Iterable, Iterator

import msgspec
import polars as pl

from lendguard.events.schema import EVENT_CLASSES, Event
from lendguard.store.events import EventStore


def stored_events(
    store: EventStore, event_types: Iterable[str], start: dt.datetime | None = None, end: dt.datetime | None = None
) -> Iterator[Event]:
    """Events of `event_types` with start <= ts < end, merged across types by time."""
    streams = [_typed(store.scan(t), t, start, end) for t in dict.fromkeys(event_types)]
    yield from heapq.merge(*streams, key=lambda e: e.ts)


def _typed(frame: pl.LazyFrame, event_type: str, start: dt.datetime | None, end: dt.datetime | None) -> Iterator[Event]:
    if start is not None:
        frame = frame.filter(pl.col("ts") >= start)
    if end is not None:
        frame = frame.filter(pl.col("ts") < end)
    cls = EVENT_CLASSES[event_type]
    fields = list(cls.__struct_fields__)
    rows = frame.sort("ts", "event_id").collect()
    present = [f for f in fields if f in rows.columns]
    for chunk in rows.iter_slices(50_000):
        for row in chunk.select(present).iter_rows(named=True):
            yield msgspec.convert({k: v for k, v in row.items() if v is not None}, cls, strict=False)
