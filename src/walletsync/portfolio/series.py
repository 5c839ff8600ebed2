"""What wallets were worth at each bar close: one SQL query per series, for a wallet, a group or any set.

The bars of the wallets' priced instruments in [start, end] form the points; each point's balances
come from one window sum over the deltas and the points merged on a timeline (deltas at a bar's
close time count in it), so the cost is one sort of deltas + points, not one balance query per
point. Prices follow `valuation` (the close of each bar, in the quote currency).

Staking lines (`staking_balances`: a snapshot of the last observed state, not history) enter the
timeline as one step at their `observed_at`: a point counts a staking line (at its current amount)
only from when its stake account or stake address was first observed on.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    DateTime,
    Integer,
    Numeric,
    and_,
    cast,
    func,
    literal,
    null,
    select,
    true,
    union,
    union_all,
)
from sqlalchemy.dialects.postgresql import INTERVAL
from sqlalchemy.ext.asyncio import AsyncConnection

from walletsync.db.models import asset_prices, assets, balance_deltas, candles, instruments, staking_balances
from walletsync.market.intervals import parse_interval
from walletsync.portfolio.valuation import group_wallet_ids, to_units
from walletsync.wallets.repository import get_wallet


@dataclass(frozen=True, slots=True)
class UnpricedHolding:
    asset_id: int
    symbol: str | None
    amount: int


@dataclass(frozen=True, slots=True)
class ValuePoint:
    ts: datetime  # start of the bar; balances are as of its close (ts + interval)
    value: Decimal
    unpriced: tuple[UnpricedHolding, ...] = ()


@dataclass(frozen=True, slots=True)
class ValueSeries:
    quote: str
    interval: str
    start: datetime | None
    end: datetime | None
    points: list[ValuePoint] = field(default_factory=list)


def series_query(
    wallet_ids: Sequence[int], *, interval: str, quote: str, start: datetime | None, end: datetime | None
) -> Any:
    """(bar ts, asset, balance at the bar's close, decimals, close) for every bar and held asset."""
    step = cast(literal(parse_interval(interval).pg), INTERVAL)
    staking = staking_balances.c
    held = union(
        select(balance_deltas.c.wallet_id, balance_deltas.c.asset_id).where(
            balance_deltas.c.wallet_id.in_(wallet_ids)
        ),
        select(staking.wallet_id, staking.asset_id).where(staking.wallet_id.in_(wallet_ids)),
    ).cte("held")
    linked = (
        select(asset_prices.c.asset_id, asset_prices.c.instrument_id)
        .join(instruments, instruments.c.id == asset_prices.c.instrument_id)
        .where(
            asset_prices.c.asset_id.in_(select(held.c.asset_id)),
            func.upper(instruments.c.currency_quote) == quote,
        )
        .cte("linked")
    )
    bar_filter = [candles.c.interval == interval, candles.c.instrument_id.in_(select(linked.c.instrument_id))]
    if start is not None:
        bar_filter.append(candles.c.ts >= start)
    if end is not None:
        bar_filter.append(candles.c.ts <= end)
    points = select(candles.c.ts).where(*bar_filter).distinct().cte("points")
    deltas = select(
        balance_deltas.c.wallet_id,
        balance_deltas.c.asset_id,
        balance_deltas.c.block_time.label("t"),
        balance_deltas.c.amount,
        literal(0, Integer).label("is_point"),
        cast(null(), DateTime(timezone=True)).label("bar_ts"),
    ).where(
        balance_deltas.c.wallet_id.in_(wallet_ids),
        balance_deltas.c.block_time.is_not(None),
        balance_deltas.c.block_time <= select(func.max(points.c.ts) + step).scalar_subquery(),
    )
    # A staking line (last observed state, no history) counts from when it was observed on: one
    # step into its asset's running sum at `observed_at` (when its account was first seen).
    staked = select(
        staking.wallet_id,
        staking.asset_id,
        staking.observed_at.label("t"),
        staking.amount,
        literal(0, Integer).label("is_point"),
        cast(null(), DateTime(timezone=True)).label("bar_ts"),
    ).where(staking.wallet_id.in_(wallet_ids))
    marks = select(
        held.c.wallet_id,
        held.c.asset_id,
        (points.c.ts + step).label("t"),
        literal(0, Numeric).label("amount"),
        literal(1, Integer).label("is_point"),
        points.c.ts.label("bar_ts"),
    ).select_from(held.join(points, true()))
    timeline = union_all(deltas, staked, marks).subquery("timeline")
    running = select(
        timeline.c.asset_id,
        timeline.c.bar_ts,
        timeline.c.is_point,
        func.sum(timeline.c.amount)
        .over(
            partition_by=(timeline.c.wallet_id, timeline.c.asset_id),
            order_by=(timeline.c.t, timeline.c.is_point),
            rows=(None, 0),
        )
        .label("balance"),
    ).subquery("running")
    per_asset = (
        select(running.c.bar_ts, running.c.asset_id, func.sum(running.c.balance).label("balance"))
        .where(running.c.is_point == 1)
        .group_by(running.c.bar_ts, running.c.asset_id)
        .subquery("per_asset")
    )
    return (
        select(
            per_asset.c.bar_ts,
            per_asset.c.asset_id,
            per_asset.c.balance,
            assets.c.symbol,
            assets.c.decimals,
            candles.c.close,
        )
        .join(assets, assets.c.id == per_asset.c.asset_id)
        .outerjoin(linked, linked.c.asset_id == per_asset.c.asset_id)
        .outerjoin(
            candles,
            and_(
                candles.c.instrument_id == linked.c.instrument_id,
                candles.c.interval == interval,
                candles.c.ts == per_asset.c.bar_ts,
            ),
        )
        .order_by(per_asset.c.bar_ts, per_asset.c.asset_id)
    )


async def _series(
    conn: AsyncConnection,
    wallet_ids: Sequence[int],
    *,
    interval: str,
    quote: str,
    start: datetime | None,
    end: datetime | None,
) -> ValueSeries:
    quote = quote.upper()
    rows = await conn.execute(series_query(wallet_ids, interval=interval, quote=quote, start=start, end=end))
    totals: dict[datetime, Decimal] = {}
    unpriced: dict[datetime, list[UnpricedHolding]] = defaultdict(list)
    for r in rows:
        totals.setdefault(r.bar_ts, Decimal(0))
        amount = int(r.balance)
        if amount == 0:
            continue
        if r.close is None or r.decimals is None:
            unpriced[r.bar_ts].append(UnpricedHolding(r.asset_id, r.symbol, amount))
            continue
        totals[r.bar_ts] += to_units(amount, r.decimals) * r.close
    return ValueSeries(
        quote=quote,
        interval=interval,
        start=start,
        end=end,
        points=[ValuePoint(ts, total, tuple(unpriced.get(ts, ()))) for ts, total in totals.items()],
    )


async def wallet_value_series(
    conn: AsyncConnection,
    wallet_id: int,
    *,
    interval: str = "1day",
    quote: str = "USD",
    start: datetime | None = None,
    end: datetime | None = None,
) -> ValueSeries:
    """The wallet's value at the close of each `interval` bar in [start, end] (bar start times)."""
    await get_wallet(conn, wallet_id)
    return await _series(conn, [wallet_id], interval=interval, quote=quote, start=start, end=end)


async def group_value_series(
    conn: AsyncConnection,
    group: str,
    *,
    interval: str = "1day",
    quote: str = "USD",
    start: datetime | None = None,
    end: datetime | None = None,
) -> ValueSeries:
    """The group's summed value at each bar close, in the same one query as a single wallet's."""
    ids = await group_wallet_ids(conn, group)
    return await _series(conn, ids, interval=interval, quote=quote, start=start, end=end)


async def wallets_value_series(
    conn: AsyncConnection,
    wallet_ids: Sequence[int],
    *,
    interval: str = "1day",
    quote: str = "USD",
    start: datetime | None = None,
    end: datetime | None = None,
) -> ValueSeries:
    """The summed value of any set of wallets (e.g. all of them) at each bar close, in one query."""
    return await _series(conn, list(wallet_ids), interval=interval, quote=quote, start=start, end=end)
