"""Event files in and out: JSON Lines (one event per line) and Parquet (a `type` column plus
the union of every type's fields, null where a field does not belong to the row's type)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO

import msgspec
import polars as pl
import pyarrow.parquet as pq

from lendguard.events.columns import frame_schema
from lendguard.events.schema import EVENT_CLASSES, EVENT_TYPES

_ENCODER = msgspec.json.Encoder(decimal_format="string")


class EventFileError(ValueError):
    """A file that cannot be read as events at all (wrong format, unreadable)."""


def file_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    raise EventFileError(f"{path}: unknown event file type {suffix!r} (use .jsonl or .parquet)")


def numbered_lines(handle: BinaryIO) -> Iterator[tuple[int, bytes]]:
    """(line number, line) of a JSON Lines stream; blank lines are skipped, numbers kept."""
    for number, line in enumerate(handle, start=1):
        if line.strip():
            yield number, line.rstrip(b"\r\n")


def read_raw_events(path: str | Path) -> Iterator[tuple[int, bytes | dict[str, Any]]]:
    """(position, raw event) pairs: JSON Lines give bytes per line, Parquet gives dicts per row.

    Blank lines are skipped; every other line is yielded so a bad one is reported, not lost.
    """
    path = Path(path)
    kind = file_format(path)
    if not path.exists():
        raise EventFileError(f"{path}: no such file")
    if kind == "jsonl":
        with open(path, "rb") as handle:
            yield from numbered_lines(handle)
        return
    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several types for a non-Parquet file
        raise EventFileError(f"{path}: not a readable Parquet file ({exc})") from exc
    if "type" not in parquet.schema_arrow.names:
        raise EventFileError(f"{path}: a Parquet event file needs a 'type' column")
    position = 0
    for batch in parquet.iter_batches(batch_size=65_536):
        for row in pl.from_arrow(batch).iter_rows(named=True):
            position += 1
            yield position, _row_for_type(row)


def _row_for_type(row: dict[str, Any]) -> dict[str, Any]:
    """Drop null columns that belong to other event types or are optional for this one
    (a null optional field means its default); keep everything else, so a null in a
    required field is still reported."""
    cls = EVENT_CLASSES.get(row.get("type"))
    required = {f.name for f in msgspec.structs.fields(cls) if f.required} if cls else set()
    return {k: v for k, v in row.items() if v is not None or k in required or k == "type"}


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    return value


def write_events(frames: Mapping[str, pl.DataFrame], path: str | Path) -> int:
    """Write typed event frames to one JSON Lines or Parquet file; returns the event count."""
    path = Path(path)
    kind = file_format(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ordered = [(t, frames[t]) for t in EVENT_TYPES if t in frames and frames[t].height]
    if kind == "parquet":
        # Enum columns become text: types share field names (`action`) with different values.
        union = pl.concat(
            [
                f.with_columns(pl.lit(t).alias("type"), *[pl.col(c).cast(pl.String) for c, d in frame_schema(t).items() if isinstance(d, pl.Enum)])
                .select("type", *frame_schema(t).names())
                for t, f in ordered
            ],
            how="diagonal_relaxed",
        )
        union.write_parquet(path, compression="zstd")
        return union.height
    count = 0
    with open(path, "wb") as handle:
        for event_type, frame in ordered:
            for row in frame.iter_rows(named=True):
                record = {"type": event_type, **{k: _jsonable(v) for k, v in row.items() if v is not None}}
                handle.write(_ENCODER.encode(record) + b"\n")
                count += 1
    return count
