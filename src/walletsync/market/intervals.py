"""The bar intervals Twelve Data serves, with their length and PostgreSQL interval spelling."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from walletsync.market.errors import UnsupportedIntervalError


@dataclass(frozen=True, slots=True)
class Interval:
    name: str  # Twelve Data's spelling: "1h", "1day"
    pg: str  # PostgreSQL interval literal: "1 hour", "1 month"
    approx: timedelta  # exact except for 1month (31 days), which only sizes windows

    @property
    def seconds(self) -> int:
        return int(self.approx.total_seconds())


_ALL = (
    Interval("1min", "1 minute", timedelta(minutes=1)),
    Interval("5min", "5 minutes", timedelta(minutes=5)),
    Interval("15min", "15 minutes", timedelta(minutes=15)),
    Interval("30min", "30 minutes", timedelta(minutes=30)),
    Interval("45min", "45 minutes", timedelta(minutes=45)),
    Interval("1h", "1 hour", timedelta(hours=1)),
    Interval("2h", "2 hours", timedelta(hours=2)),
    Interval("4h", "4 hours", timedelta(hours=4)),
    Interval("8h", "8 hours", timedelta(hours=8)),
    Interval("1day", "1 day", timedelta(days=1)),
    Interval("1week", "7 days", timedelta(days=7)),
    Interval("1month", "1 month", timedelta(days=31)),
)
INTERVALS = {interval.name: interval for interval in _ALL}


def parse_interval(name: str) -> Interval:
    interval = INTERVALS.get(name)
    if interval is None:
        raise UnsupportedIntervalError(f"unsupported interval {name!r}; use one of {', '.join(INTERVALS)}")
    return interval


IntervalName = StrEnum("IntervalName", {name: name for name in INTERVALS})  # type: ignore[misc]
"""The interval names as an enum, for API parameters (an unknown one is a schema-level 422)."""
