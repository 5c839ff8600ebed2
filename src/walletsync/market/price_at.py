"""The price of an instrument at a time t, without looking ahead.

A bar's close is known only once the bar has ended, so the price at t is the close of a bar that
ended at or before t (start + length <= t). Among those, the most recent end wins, and on a tie
(an hourly and a daily bar both ending at midnight) the finer interval wins. Valuation and the value
leaderboard both use this rule; a bar still forming at t never prices it.

One probe per (instrument, interval) on the primary key `(instrument_id, interval, ts)`: the latest
bar starting at or before t whose end is not after t (walking back past the bar still forming),
then the best of those few rows. The cost does not grow with the stored history.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Integer,
    Text,
    cast,
    column,
    func,
    lateral,
    literal,
    select,
    true,
    values,
)
from sqlalchemy.dialects.postgresql import INTERVAL

from walletsync.db.models import candles
from walletsync.market.intervals import INTERVALS


def _bar_intervals() -> Any:
    """Every interval name with its PostgreSQL length and its size rank (finer first)."""
    ranked = sorted(INTERVALS.values(), key=lambda interval: interval.approx)
    return values(
        column("name", Text), column("length", Text), column("fineness", Integer), name="bar_intervals"
    ).data([(interval.name, interval.pg, rank) for rank, interval in enumerate(ranked)])


def moment(at: datetime | None) -> ColumnElement[Any]:
    """`at` as a timestamptz bind parameter, or the database's `now()` when None."""
    return literal(at, DateTime(timezone=True)) if at is not None else func.now()


def close_at(instrument_id: ColumnElement[Any], at: datetime | None) -> Any:
    """A LATERAL subquery of one row (ts, interval, close) pricing `instrument_id` at `at`.

    `instrument_id` is a column of the enclosing query; no row when no bar has ended by then.
    """
    t = moment(at)
    intervals = _bar_intervals()
    length = cast(intervals.c.length, INTERVAL)
    last_ended = lateral(
        select(candles.c.ts, candles.c.close)
        .where(
            candles.c.instrument_id == instrument_id,
            candles.c.interval == intervals.c.name,
            candles.c.ts <= t,  # bounds the index walk; the end condition below is the rule
            candles.c.ts + length <= t,
        )
        .order_by(candles.c.ts.desc())
        .limit(1)
        .correlate_except(candles)  # the instrument is two levels up: correlate it explicitly
    )
    return lateral(
        select(last_ended.c.ts, intervals.c.name.label("interval"), last_ended.c.close)
        .select_from(intervals.join(last_ended, true()))
        .order_by((last_ended.c.ts + length).desc(), intervals.c.fineness)
        .limit(1)
    )
