"""The as-of point and look-back windows every feature is computed over."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import polars as pl

from lendguard.policy import Policy


@dataclass(frozen=True)
class AsOf:
    """Evaluation time and windows: events after `at` are ignored everywhere."""

    at: dt.datetime  # timezone-aware, UTC
    lookback_days: int
    days_per_month: int
    quarter_days: int
    timezone: str

    @classmethod
    def of(cls, at: dt.datetime, policy: Policy) -> AsOf:
        if at.tzinfo is None:
            at = at.replace(tzinfo=ZoneInfo(policy.timezone))
        w = policy.windows
        return cls(at.astimezone(dt.timezone.utc), w.lookback_days, w.days_per_month, w.quarter_days, policy.timezone)

    @property
    def months(self) -> int:
        return self.lookback_days // self.days_per_month

    def start(self, days: int | None = None) -> dt.datetime:
        return self.at - dt.timedelta(days=self.lookback_days if days is None else days)

    @property
    def local_date(self) -> dt.date:
        return self.at.astimezone(ZoneInfo(self.timezone)).date()

    def within(self, days: int | None = None) -> pl.Expr:
        """Events with start < ts <= as-of."""
        return (pl.col("ts") > self.start(days)) & (pl.col("ts") <= self.at)

    def until(self) -> pl.Expr:
        """Events up to the as-of point (for state such as cards bound, holdings)."""
        return pl.col("ts") <= self.at

    def local_hour(self, column: str = "ts") -> pl.Expr:
        """Local hour of day of a UTC time, for times inside the look-back window.

        When the zone's UTC offset is the same on every day of the window (no daylight
        saving change, as in Asia/Shanghai) this is integer arithmetic; otherwise it falls
        back to a full time-zone conversion.
        """
        zone = ZoneInfo(self.timezone)
        days = range(0, self.lookback_days + 2)
        offsets = {(self.at - dt.timedelta(days=d)).astimezone(zone).utcoffset() for d in days}
        if len(offsets) == 1:
            seconds = int(offsets.pop().total_seconds())
            return (((pl.col(column).dt.epoch("s") + seconds) // 3600) % 24).cast(pl.Int8)
        return pl.col(column).dt.convert_time_zone(self.timezone).dt.hour()

    def days_before(self, column: str) -> pl.Expr:
        """Whole-and-fractional days between an event time and the as-of point."""
        return (pl.lit(self.at) - pl.col(column)).dt.total_seconds() / 86_400.0


def latest(column: str) -> pl.Expr:
    """In a group, the value of `column` on the row with the latest event time.

    A linear scan per group (arg max), instead of sorting every event by time.
    """
    return pl.col(column).get(pl.col("ts").arg_max()).alias(column)


def latest_known(column: str) -> pl.Expr:
    """In a group, the latest non-null value of `column`."""
    return pl.col(column).sort_by("ts").drop_nulls().last().alias(column)
