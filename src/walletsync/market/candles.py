"""Candles: storing OHLCV bars idempotently, and reading prices back (series, latest, daily closes).

Bars are keyed by `(instrument_id, interval, ts)` with `ts` the bar's start in UTC. A bar still
forming when fetched is stored and overwritten on the next run (which starts from the last stored
bar), so a stored series has neither gaps nor duplicates across runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, column, func, or_, select, table, true, tuple_
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from walletsync.db.models import asset_prices, candles, instruments
from walletsync.db.timescale import DAILY_CLOSE_VIEW
from walletsync.market.errors import UnknownSymbolError
from walletsync.market.price_at import close_at
from walletsync.providers.types import Candle

BATCH_ROWS = 3000  # 8 columns each, under asyncpg's 32767 bind parameters

daily_close = table(DAILY_CLOSE_VIEW, column("instrument_id"), column("day"), column("close"))


@dataclass(frozen=True, slots=True)
class Instrument:
    id: int
    kind: str
    symbol: str
    exchange: str
    name: str | None
    currency_base: str | None
    currency_quote: str | None


@dataclass(frozen=True, slots=True)
class Bar:
    ts: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal | None


def _instrument(row: Any) -> Instrument:
    return Instrument(
        id=row.id,
        kind=row.kind,
        symbol=row.symbol,
        exchange=row.exchange,
        name=row.name,
        currency_base=row.currency_base,
        currency_quote=row.currency_quote,
    )


_INSTRUMENT_COLUMNS = (
    instruments.c.id,
    instruments.c.kind,
    instruments.c.symbol,
    instruments.c.exchange,
    instruments.c.name,
    instruments.c.currency_base,
    instruments.c.currency_quote,
)


def normalize_symbol(symbol: str) -> str:
    """Twelve Data symbols are upper case ("SOL/USD", "AAPL"); accept any case and spaces around."""
    return symbol.strip().upper()


async def find_instrument(conn: AsyncConnection, symbol: str) -> Instrument | None:
    """The instrument for `symbol`; a crypto pair (no exchange) before a listing on one exchange."""
    row = (
        await conn.execute(
            select(*_INSTRUMENT_COLUMNS)
            .where(instruments.c.symbol == normalize_symbol(symbol))
            .order_by(instruments.c.exchange != "", instruments.c.kind, instruments.c.exchange)
            .limit(1)
        )
    ).first()
    return _instrument(row) if row is not None else None


async def get_instrument(conn: AsyncConnection, symbol: str) -> Instrument:
    instrument = await find_instrument(conn, symbol)
    if instrument is None:
        raise UnknownSymbolError(f"no instrument {normalize_symbol(symbol)!r}; run `walletsync prices sync`")
    return instrument


async def ensure_instrument(conn: AsyncConnection, symbol: str) -> Instrument:
    """The instrument for `symbol`, created from the symbol alone when the catalog did not list it.

    "BASE/QUOTE" is a crypto pair; anything else a stock with no exchange. A later catalog refresh
    fills in the other fields in place.
    """
    found = await find_instrument(conn, symbol)
    if found is not None:
        return found
    symbol = normalize_symbol(symbol)
    base, slash, quote = symbol.partition("/")
    stmt = (
        pg_insert(instruments)
        .values(
            kind="crypto" if slash else "stock",
            symbol=symbol,
            exchange="",
            currency_base=base if slash else None,
            currency_quote=quote if slash else None,
        )
        .on_conflict_do_nothing()
    )
    await conn.execute(stmt)
    return await get_instrument(conn, symbol)


async def last_bar_ts(conn: AsyncConnection, instrument_id: int, interval: str) -> datetime | None:
    last: datetime | None = await conn.scalar(
        select(func.max(candles.c.ts)).where(
            candles.c.instrument_id == instrument_id, candles.c.interval == interval
        )
    )
    return last


async def store_candles(conn: AsyncConnection, instrument_id: int, bars: Sequence[Candle]) -> int:
    """Insert bars, overwriting any stored bar whose values changed; return rows written."""
    unique = {(bar.interval, bar.ts): bar for bar in bars}
    rows = [
        {
            "instrument_id": instrument_id,
            "interval": bar.interval,
            "ts": bar.ts,
            "open": bar.open,
            "high": bar.high,
            "low": bar.low,
            "close": bar.close,
            "volume": bar.volume,
        }
        for bar in unique.values()
    ]
    written = 0
    values = ("open", "high", "low", "close", "volume")
    for start in range(0, len(rows), BATCH_ROWS):
        stmt = pg_insert(candles).values(rows[start : start + BATCH_ROWS])
        changed: ColumnElement[bool] = tuple_(*(candles.c[v] for v in values)).is_distinct_from(
            tuple_(*(stmt.excluded[v] for v in values))
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[candles.c.instrument_id, candles.c.interval, candles.c.ts],
            set_={v: stmt.excluded[v] for v in values},
            where=changed,
        )
        result = await conn.execute(stmt)
        written += result.rowcount or 0
    return written


async def bars(
    conn: AsyncConnection,
    instrument_id: int,
    interval: str,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int | None = None,
) -> list[Bar]:
    """Bars in [start, end], oldest first; with `limit` and no `start`, the latest `limit` bars."""
    query = select(
        candles.c.ts, candles.c.open, candles.c.high, candles.c.low, candles.c.close, candles.c.volume
    ).where(candles.c.instrument_id == instrument_id, candles.c.interval == interval)
    if start is not None:
        query = query.where(candles.c.ts >= start)
    if end is not None:
        query = query.where(candles.c.ts <= end)
    if limit is not None and start is None:
        inner = query.order_by(candles.c.ts.desc()).limit(limit).subquery()
        query = select(inner).order_by(inner.c.ts)
    else:
        query = query.order_by(candles.c.ts)
        if limit is not None:
            query = query.limit(limit)
    return [Bar(r.ts, r.open, r.high, r.low, r.close, r.volume) for r in await conn.execute(query)]


async def bar_count(conn: AsyncConnection, instrument_id: int, interval: str) -> int:
    return int(
        await conn.scalar(
            select(func.count()).where(
                candles.c.instrument_id == instrument_id, candles.c.interval == interval
            )
        )
        or 0
    )


async def daily_closes(
    conn: AsyncConnection, instrument_id: int, *, start: datetime | None = None, end: datetime | None = None
) -> list[tuple[datetime, Decimal]]:
    """Each UTC day's last hourly close, from `candles_daily_close` (continuous aggregate or view)."""
    query = select(daily_close.c.day, daily_close.c.close).where(daily_close.c.instrument_id == instrument_id)
    if start is not None:
        query = query.where(daily_close.c.day >= start)
    if end is not None:
        query = query.where(daily_close.c.day <= end)
    return [(r.day, r.close) for r in await conn.execute(query.order_by(daily_close.c.day))]


async def latest_priced_bar_ts(conn: AsyncConnection, interval: str) -> datetime | None:
    """The start of the newest `interval` bar of any instrument that prices an asset (`asset_prices`)."""
    linked = select(asset_prices.c.instrument_id)
    result = await conn.scalar(
        select(func.max(candles.c.ts)).where(
            candles.c.interval == interval, candles.c.instrument_id.in_(linked)
        )
    )
    return result if isinstance(result, datetime) else None


def like_pattern(text: str) -> str:
    """`%text%` for ILIKE, with the user's own `%`, `_` and `\\` matched literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def search_instruments(conn: AsyncConnection, text: str, *, limit: int = 50) -> list[Instrument]:
    """Catalog instruments whose symbol or name contains `text` (case-insensitive), symbols that
    start with it first."""
    text = text.strip()
    if not text:
        return []
    pattern = like_pattern(text)
    starts = instruments.c.symbol.ilike(like_pattern(text)[1:], escape="\\")
    query = (
        select(*_INSTRUMENT_COLUMNS)
        .where(
            or_(
                instruments.c.symbol.ilike(pattern, escape="\\"),
                instruments.c.name.ilike(pattern, escape="\\"),
            )
        )
        .order_by(starts.desc(), instruments.c.symbol, instruments.c.exchange)
        .limit(limit)
    )
    return [_instrument(r) for r in await conn.execute(query)]


@dataclass(frozen=True, slots=True)
class SymbolSummary:
    instrument: Instrument
    interval: str
    bars: int
    first_ts: datetime
    last_ts: datetime
    last_close: Decimal


async def stored_series(conn: AsyncConnection) -> list[SymbolSummary]:
    """Every (instrument, interval) with stored bars: count, range and latest close."""
    latest = (
        select(candles.c.instrument_id, candles.c.interval, candles.c.close)
        .ext(distinct_on(candles.c.instrument_id, candles.c.interval))
        .order_by(candles.c.instrument_id, candles.c.interval, candles.c.ts.desc())
        .subquery()
    )
    stats = (
        select(
            candles.c.instrument_id,
            candles.c.interval,
            func.count().label("bars"),
            func.min(candles.c.ts).label("first_ts"),
            func.max(candles.c.ts).label("last_ts"),
        )
        .group_by(candles.c.instrument_id, candles.c.interval)
        .subquery()
    )
    query = (
        select(
            *_INSTRUMENT_COLUMNS,
            stats.c.interval,
            stats.c.bars,
            stats.c.first_ts,
            stats.c.last_ts,
            latest.c.close,
        )
        .join(stats, stats.c.instrument_id == instruments.c.id)
        .join(
            latest,
            and_(latest.c.instrument_id == stats.c.instrument_id, latest.c.interval == stats.c.interval),
        )
        .order_by(instruments.c.symbol, stats.c.interval)
    )
    return [
        SymbolSummary(_instrument(r), r.interval, r.bars, r.first_ts, r.last_ts, r.close)
        for r in await conn.execute(query)
    ]


@dataclass(frozen=True, slots=True)
class PricePoint:
    instrument_id: int
    ts: datetime  # start of the bar whose close this is
    interval: str
    close: Decimal


def latest_close_query(instrument_ids: Sequence[int], at: datetime | None = None) -> Any:
    """Per instrument, its price at `at` (now when None): see `price_at` for the rule."""
    ids = select(instruments.c.id.label("instrument_id")).where(
        instruments.c.id.in_(sorted(set(instrument_ids)))
    )
    subquery = ids.subquery("wanted")
    price = close_at(subquery.c.instrument_id, at)
    return select(subquery.c.instrument_id, price.c.ts, price.c.interval, price.c.close).select_from(
        subquery.join(price, true())
    )


async def latest_closes(
    conn: AsyncConnection, instrument_ids: Sequence[int], *, at: datetime | None = None
) -> dict[int, PricePoint]:
    """Each instrument's price at `at` (now when None); instruments with no ended bar are absent."""
    if not instrument_ids:
        return {}
    query = latest_close_query(instrument_ids, at)
    return {
        r.instrument_id: PricePoint(r.instrument_id, r.ts, r.interval, r.close)
        for r in await conn.execute(query)
    }
