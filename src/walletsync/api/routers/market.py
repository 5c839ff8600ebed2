"""`/v1/assets`, `/v1/prices/{symbol}` and `/v1/exchanges`: the asset registry with prices, OHLCV bars
and the exchange catalog, read from the database (never from the provider)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from starlette.responses import Response

from walletsync.api.deps import (
    Limit,
    ReadAccess,
    StateDep,
    Timestamp,
    as_utc,
    cached_json,
    cursor_query,
    decode_cursor,
    encode_cursor,
    ordered,
)
from walletsync.api.errors import error_responses
from walletsync.api.market_schemas import AssetOut, BarOut, ExchangeOut, PricesOut, decimal_str
from walletsync.api.schemas import Page
from walletsync.config import Chain
from walletsync.market.candles import bars, get_instrument
from walletsync.market.catalog import list_exchanges
from walletsync.market.intervals import IntervalName
from walletsync.market.links import list_assets

router = APIRouter(tags=["market data"])

READ_ERRORS = error_responses(401, 403, 413, 422, 429, 500)
MAX_BARS = 5000


def _after_id(cursor: str | None, kind: str) -> int | None:
    if cursor is None:
        return None
    (after_id,) = decode_cursor(cursor, kind, int)
    return int(after_id)


@router.get(
    "/v1/assets", response_model=Page[AssetOut], responses=READ_ERRORS, summary="Known assets and prices"
)
async def assets_route(
    state: StateDep,
    _: ReadAccess,
    limit: Limit = 100,
    cursor: Annotated[str | None, cursor_query("assets", int)] = None,
    chain: Annotated[Chain | None, Query(description="Only assets of this chain.")] = None,
) -> Page[AssetOut]:
    """Every asset seen in a synced wallet, with the instrument that prices it and its latest close.
    An asset without a price has `priced: false` and `price: null`, never 0."""
    after_id = _after_id(cursor, "assets")
    async with state.db.read() as conn:
        rows = await list_assets(
            conn, chain=chain.value if chain else None, after_id=after_id, limit=limit + 1
        )
    page, more = rows[:limit], len(rows) > limit
    return Page[AssetOut](
        items=[
            AssetOut(
                id=a.asset_id,
                chain=Chain(a.chain),
                asset_key=a.asset_key,
                symbol=a.symbol,
                name=a.name,
                decimals=a.decimals,
                price_symbol=a.instrument_symbol,
                quote=a.quote,
                price=decimal_str(a.price) if a.price is not None else None,
                price_ts=a.price_ts,
                priced=a.priced,
            )
            for a in page
        ],
        next_cursor=encode_cursor("assets", [page[-1].asset_id]) if more else None,
    )


@router.get(
    "/v1/prices/{symbol:path}",
    response_model=PricesOut,
    responses=error_responses(401, 403, 404, 413, 422, 429, 500),
    summary="OHLCV bars of an instrument",
)
async def prices_route(
    symbol: Annotated[
        str, Path(min_length=1, max_length=64, description="e.g. SOL/USD (the slash may be %2F).")
    ],
    state: StateDep,
    _: ReadAccess,
    start: Annotated[
        Timestamp | None, Query(alias="from", description="First bar start (inclusive); not after `to`.")
    ] = None,
    end: Annotated[Timestamp | None, Query(alias="to", description="Last bar start (inclusive).")] = None,
    interval: Annotated[
        IntervalName | None,
        Query(description="Bar interval; default the first of WALLETSYNC_PRICE_INTERVALS."),
    ] = None,
    limit: Annotated[
        int, Query(ge=1, le=MAX_BARS, description="At most this many bars (the latest without `from`).")
    ] = 500,
) -> Response:
    """Stored bars, oldest first, from `walletsync prices sync`; cached for `WALLETSYNC_CACHE_TTL_PRICES` seconds."""
    name = interval.value if interval is not None else (state.settings.price_intervals or ["1day"])[0]
    start_utc, end_utc = as_utc(start, "from"), as_utc(end, "to")
    ordered(start_utc, end_utc, ("from", "to"))

    async def load() -> bytes:
        async with state.db.read() as conn:
            instrument = await get_instrument(conn, symbol)
            rows = await bars(conn, instrument.id, name, start=start_utc, end=end_utc, limit=limit)
        out = PricesOut(
            symbol=instrument.symbol,
            name=instrument.name,
            kind=instrument.kind,
            exchange=instrument.exchange,
            quote=instrument.currency_quote,
            interval=name,
            bars=[
                BarOut(
                    ts=b.ts,
                    open=decimal_str(b.open),
                    high=decimal_str(b.high),
                    low=decimal_str(b.low),
                    close=decimal_str(b.close),
                    volume=decimal_str(b.volume) if b.volume is not None else None,
                )
                for b in rows
            ],
        )
        return out.model_dump_json().encode()

    key = (
        symbol.strip().upper(),
        name,
        start_utc.isoformat() if start_utc else "-",
        end_utc.isoformat() if end_utc else "-",
        limit,
    )
    return await cached_json(state, "prices", *key, ttl=state.settings.cache_ttl_prices_s, load=load)


@router.get(
    "/v1/exchanges", response_model=Page[ExchangeOut], responses=READ_ERRORS, summary="Exchange catalog"
)
async def exchanges_route(
    state: StateDep,
    _: ReadAccess,
    limit: Limit = 100,
    cursor: Annotated[str | None, cursor_query("exchanges", int)] = None,
    kind: Annotated[
        Literal["stock", "crypto"] | None, Query(description="Only stock or crypto exchanges.")
    ] = None,
) -> Page[ExchangeOut]:
    """Stock and cryptocurrency exchanges from the Twelve Data catalogs, in the order first stored."""
    after_id = _after_id(cursor, "exchanges")
    async with state.db.read() as conn:
        rows = await list_exchanges(conn, kind=kind, after_id=after_id, limit=limit + 1)
    page, more = rows[:limit], len(rows) > limit
    return Page[ExchangeOut](
        items=[
            ExchangeOut(
                id=r.id, kind=r.kind, name=r.name, code=r.code, country=r.country, timezone=r.timezone
            )
            for r in page
        ],
        next_cursor=encode_cursor("exchanges", [page[-1].id]) if more else None,
    )
