"""`/v1/wallets/{id}/value` and `/v1/groups/{name}/value`: what a wallet or a group is worth, now or
at a time, with an optional value series at each bar close. Cache-aside: a wallet's entry is dropped
when a sync stores new facts for it, and expires after `WALLETSYNC_CACHE_TTL_PRICES` as prices move on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Path, Query
from starlette.responses import Response

from walletsync.api.deps import ReadAccess, StateDep, Timestamp, as_utc, cached_json, ordered
from walletsync.api.errors import error_responses
from walletsync.api.market_schemas import (
    GroupValueOut,
    GroupWalletOut,
    PositionOut,
    UnpricedHoldingOut,
    UnpricedOut,
    ValuePointOut,
    ValueSeriesOut,
    WalletValueOut,
    decimal_str,
)
from walletsync.api.routers.wallets import WalletId
from walletsync.config import Chain
from walletsync.market.intervals import IntervalName
from walletsync.portfolio.series import ValueSeries, group_value_series, wallet_value_series
from walletsync.portfolio.valuation import Position, group_value, wallet_value

router = APIRouter(tags=["valuation"])

DEFAULT_SPAN = timedelta(days=30)
ERRORS = error_responses(401, 403, 404, 413, 422, 429, 500)

At = Annotated[
    Timestamp | None, Query(description="Value as of this time (balances and prices); now when absent.")
]
From = Annotated[
    Timestamp | None,
    Query(alias="from", description="Series start (bar start, inclusive); not after `to`."),
]
To = Annotated[
    Timestamp | None, Query(alias="to", description="Series end (bar start, inclusive); default now.")
]
IntervalParam = Annotated[
    IntervalName | None, Query(description="Series bar interval. Default 1day when from/to is given.")
]


def _position(p: Position) -> PositionOut:
    assert p.price is not None
    assert p.price_ts is not None
    assert p.value is not None
    assert p.price_symbol is not None
    return PositionOut(
        asset_id=p.asset_id,
        asset_key=p.asset_key,
        symbol=p.symbol,
        decimals=p.decimals,
        amount=str(p.amount),
        price=decimal_str(p.price),
        price_symbol=p.price_symbol,
        price_ts=p.price_ts,
        value=decimal_str(p.value),
        kind=p.kind,
    )


def _unpriced(p: Position) -> UnpricedOut:
    return UnpricedOut(
        asset_id=p.asset_id,
        asset_key=p.asset_key,
        symbol=p.symbol,
        decimals=p.decimals,
        amount=str(p.amount),
        reason=p.unpriced_reason,
        kind=p.kind,
    )


def _series_out(series: ValueSeries) -> ValueSeriesOut:
    return ValueSeriesOut(
        interval=series.interval,
        start=series.start,
        end=series.end,
        points=[
            ValuePointOut(
                ts=pt.ts,
                value=decimal_str(pt.value),
                unpriced=[
                    UnpricedHoldingOut(asset_id=h.asset_id, symbol=h.symbol, amount=str(h.amount))
                    for h in pt.unpriced
                ],
            )
            for pt in series.points
        ],
    )


def series_window(
    start: datetime | None, end: datetime | None, interval: IntervalName | None
) -> tuple[datetime, datetime, str] | None:
    """The series to compute, or None. Its points are the stored bars in the range, so the range
    itself bounds nothing: a wide one costs no more than the bars stored. `from` after `to` is a 422;
    both are within years 1970..2999 (`Timestamp`), so the default span cannot overflow."""
    if start is None and end is None and interval is None:
        return None
    name = interval.value if interval is not None else "1day"
    end_utc = as_utc(end, "to") or datetime.now(UTC)
    start_utc = as_utc(start, "from") or end_utc - DEFAULT_SPAN
    ordered(start_utc, end_utc, ("from", "to"))  # `to` defaults to now
    return start_utc, end_utc, name


def _key(value: datetime | None) -> str:
    return value.isoformat() if value is not None else "-"


def _cache_parts(at: datetime | None, window: tuple[datetime, datetime, str] | None) -> tuple[str, ...]:
    """What distinguishes one value read from another in its cache key: `at` and the series window."""
    if window is None:
        return (_key(at), "-", "-", "-")
    return (_key(at), _key(window[0]), _key(window[1]), window[2])


@router.get(
    "/v1/wallets/{wallet_id}/value",
    response_model=WalletValueOut,
    responses=ERRORS,
    summary="What a wallet is worth",
)
async def wallet_value_route(
    wallet_id: WalletId,
    state: StateDep,
    _: ReadAccess,
    at: At = None,
    start: From = None,
    end: To = None,
    interval: IntervalParam = None,
) -> Response:
    """Priced holdings and their total in the quote currency (`WALLETSYNC_QUOTE_CURRENCY`); holdings with no price
    are listed under `unpriced` and left out of `total` (`complete` is then false). With `interval`,
    `from` or `to`, also the value at each bar close in the range (default: the last 30 days, daily)."""
    at_utc = as_utc(at, "at")
    window = series_window(start, end, interval)
    quote = state.settings.quote_currency.upper()

    async def load() -> bytes:
        async with state.db.read() as conn:
            value = await wallet_value(conn, wallet_id, quote=quote, at=at_utc)
            series = None
            if window is not None:
                series = await wallet_value_series(
                    conn, wallet_id, interval=window[2], quote=quote, start=window[0], end=window[1]
                )
        out = WalletValueOut(
            wallet_id=value.wallet_id,
            chain=Chain(value.chain),
            address=value.address,
            label=value.label,
            quote=value.quote,
            at=value.at,
            total=_total(value.total, priced=bool(value.positions), unpriced=bool(value.unpriced)),
            complete=value.complete,
            positions=[_position(p) for p in value.positions],
            unpriced=[_unpriced(p) for p in value.unpriced],
            series=_series_out(series) if series is not None else None,
        )
        return out.model_dump_json(by_alias=True).encode()

    parts = _cache_parts(at_utc, window)
    return await cached_json(
        state,
        "wallet-value",
        wallet_id,
        *parts,
        ttl=state.settings.cache_ttl_prices_s,
        load=load,
        wallet_id=wallet_id,
    )


def _total(total: Decimal, *, priced: bool, unpriced: bool) -> str | None:
    """Null when holdings exist and none is priced (a fresh install before its first price sync
    must not read as worth 0); an empty wallet is worth 0."""
    return None if unpriced and not priced else decimal_str(total)


GroupName = Annotated[
    str, Path(min_length=1, max_length=100, description="The group (`wallets add --group`).")
]


@router.get(
    "/v1/groups/{name}/value",
    response_model=GroupValueOut,
    responses=ERRORS,
    summary="What a wallet group is worth",
)
async def group_value_route(
    name: GroupName,
    state: StateDep,
    _: ReadAccess,
    at: At = None,
    start: From = None,
    end: To = None,
    interval: IntervalParam = None,
) -> Response:
    """The total of a group's wallets (across chains), each wallet's total, and an optional series."""
    at_utc = as_utc(at, "at")
    window = series_window(start, end, interval)
    quote = state.settings.quote_currency.upper()

    async def load() -> bytes:
        async with state.db.read() as conn:
            group = await group_value(conn, name, quote=quote, at=at_utc)
            series = None
            if window is not None:
                series = await group_value_series(
                    conn, name, interval=window[2], quote=quote, start=window[0], end=window[1]
                )
        out = GroupValueOut(
            group=group.group,
            quote=group.quote,
            at=group.at,
            total=_total(
                group.total,
                priced=any(w.positions for w in group.wallets),
                unpriced=any(w.unpriced for w in group.wallets),
            ),
            complete=group.complete,
            wallets=[
                GroupWalletOut(
                    wallet_id=w.wallet_id,
                    chain=Chain(w.chain),
                    address=w.address,
                    label=w.label,
                    total=_total(w.total, priced=bool(w.positions), unpriced=bool(w.unpriced)),
                    complete=w.complete,
                    unpriced=[_unpriced(p) for p in w.unpriced],
                )
                for w in group.wallets
            ],
            series=_series_out(series) if series is not None else None,
        )
        return out.model_dump_json(by_alias=True).encode()

    parts = _cache_parts(at_utc, window)
    # A group spans wallets, so no single wallet's invalidation applies: the short TTL bounds staleness.
    return await cached_json(
        state, "group-value", name, *parts, ttl=state.settings.cache_ttl_prices_s, load=load
    )
