"""Catalog upserts on a real PostgreSQL: idempotent, renamed fields updated in place."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import Table, select

from walletsync.db.engine import Database
from walletsync.db.models import exchanges, instruments
from walletsync.market.catalog import upsert_exchanges, upsert_instruments
from walletsync.providers.types import ExchangeInfo, InstrumentInfo

EXCHANGES = [
    ExchangeInfo(
        kind="stock", name="NASDAQ", code="XNGS", country="United States", timezone="America/New_York"
    ),
    ExchangeInfo(kind="stock", name="LSE", code="XLON", country="United Kingdom", timezone="Europe/London"),
    ExchangeInfo(kind="crypto", name="Binance"),
]
INSTRUMENTS = [
    InstrumentInfo(
        kind="crypto",
        symbol="SOL/USD",
        name="Solana / US Dollar",
        currency_base="SOL",
        currency_quote="USD",
        metadata={"available_exchanges": ["Binance"]},
    ),
    InstrumentInfo(
        kind="stock",
        symbol="AAPL",
        name="Apple Inc",
        exchange="NASDAQ",
        currency_quote="USD",
        country="United States",
        instrument_type="Common Stock",
    ),
]


async def _rows(db: Database, table: Table) -> list[tuple[object, ...]]:
    async with db.read() as conn:
        return [tuple(r) for r in await conn.execute(select(table).order_by(table.c.id))]


async def test_exchange_upsert_twice_changes_nothing(db: Database) -> None:
    """A second upsert of the same catalog inserts and updates nothing; rows (and updated_at) stay."""
    async with db.write() as conn:
        first = await upsert_exchanges(conn, EXCHANGES)
    before = await _rows(db, exchanges)
    async with db.write() as conn:
        second = await upsert_exchanges(conn, EXCHANGES)
    assert (first.inserted, first.updated, first.unchanged) == (3, 0, 0)
    assert (second.inserted, second.updated, second.unchanged) == (0, 0, 3)
    assert await _rows(db, exchanges) == before


async def test_renamed_field_updates_in_place(db: Database) -> None:
    """A changed country or instrument name updates that row, keeping its id; others stay untouched."""
    async with db.write() as conn:
        await upsert_exchanges(conn, EXCHANGES)
        await upsert_instruments(conn, INSTRUMENTS)
    ex_before = {r[2]: r for r in await _rows(db, exchanges)}
    in_before = {r[2]: r for r in await _rows(db, instruments)}
    renamed_ex = [EXCHANGES[0], replace(EXCHANGES[1], country="Great Britain")]
    renamed_in = [replace(INSTRUMENTS[0], name="Solana / USD")]
    async with db.write() as conn:
        ex_counts = await upsert_exchanges(conn, renamed_ex)
        in_counts = await upsert_instruments(conn, renamed_in)
    assert (ex_counts.inserted, ex_counts.updated, ex_counts.unchanged) == (0, 1, 1)
    assert (in_counts.inserted, in_counts.updated, in_counts.unchanged) == (0, 1, 0)
    ex_after = {r[2]: r for r in await _rows(db, exchanges)}
    in_after = {r[2]: r for r in await _rows(db, instruments)}
    assert ex_after["LSE"][0] == ex_before["LSE"][0]
    assert ex_after["LSE"][4] == "Great Britain"
    assert ex_after["NASDAQ"] == ex_before["NASDAQ"]
    assert in_after["SOL/USD"][0] == in_before["SOL/USD"][0]
    assert in_after["SOL/USD"][4] == "Solana / USD"
    assert in_after["AAPL"] == in_before["AAPL"]


async def test_duplicate_keys_in_one_catalog_last_wins(db: Database) -> None:
    """A catalog listing one key twice is stored once, with the last listing's fields."""
    twice = [
        ExchangeInfo(kind="crypto", name="Kraken", country="US"),
        ExchangeInfo(kind="crypto", name="Kraken", country="USA"),
    ]
    async with db.write() as conn:
        counts = await upsert_exchanges(conn, twice)
    rows = await _rows(db, exchanges)
    assert counts.inserted == 1
    assert [(r[2], r[4]) for r in rows] == [("Kraken", "USA")]
