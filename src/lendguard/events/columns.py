"""The columnar (Arrow/Polars) layout of each event type, derived from the schema classes."""

from __future__ import annotations

from functools import cache

import msgspec
import polars as pl

from lendguard.events.schema import EVENT_CLASSES

MONEY_DTYPE = pl.Decimal(18, 2)
TIME_DTYPE = pl.Datetime("us", "UTC")
COMMON_COLUMNS = ("event_id", "user_id", "ts")


def _dtype(info: msgspec.inspect.Type) -> pl.DataType:
    t = msgspec.inspect
    if isinstance(info, t.UnionType):
        inner = [x for x in info.types if not isinstance(x, t.NoneType)]
        return _dtype(inner[0])
    if isinstance(info, t.LiteralType) and isinstance(info.values[0], str):
        # A closed set of words: stored as an enum (integer codes, smaller and faster to compare).
        return pl.Enum(sorted(info.values))
    if isinstance(info, t.StrType):
        return pl.String()
    if isinstance(info, t.LiteralType):
        return pl.Int16()
    if isinstance(info, t.BoolType):
        return pl.Boolean()
    if isinstance(info, t.IntType):
        return pl.Int64()
    if isinstance(info, t.DecimalType):
        return MONEY_DTYPE
    if isinstance(info, t.DateTimeType):
        return TIME_DTYPE
    if isinstance(info, t.DateType):
        return pl.Date()
    if isinstance(info, t.ListType):
        return pl.List(_dtype(info.item_type))
    raise TypeError(f"no column type for {info!r}")


@cache
def frame_schema(event_type: str) -> pl.Schema:
    """Column names and dtypes of one event type, common columns first."""
    info = msgspec.inspect.type_info(EVENT_CLASSES[event_type])
    columns = {f.name: _dtype(f.type) for f in info.fields}
    ordered = {name: columns.pop(name) for name in COMMON_COLUMNS}
    ordered.update(columns)
    return pl.Schema(ordered)


def empty_frame(event_type: str) -> pl.DataFrame:
    return pl.DataFrame(schema=frame_schema(event_type))


def events_to_frames(events: list[msgspec.Struct]) -> dict[str, pl.DataFrame]:
    """Group decoded events by type into typed frames (one column per field)."""
    by_type: dict[str, list[msgspec.Struct]] = {}
    for event in events:
        by_type.setdefault(type(event).__struct_config__.tag, []).append(event)
    frames = {}
    for event_type, items in by_type.items():
        schema = frame_schema(event_type)
        columns = {name: [getattr(e, name) for e in items] for name in schema.names()}
        frames[event_type] = pl.DataFrame(columns, schema=schema)
    return frames
