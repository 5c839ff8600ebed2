"""`sync_prices` against real PostgreSQL and a Twelve Data stand-in over the simulator's series."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from walletsync.config import Settings
from walletsync.db.engine import Database
from walletsync.db.models import asset_prices, assets, candles, exchanges, instruments
from walletsync.market import candles as candle_store
from walletsync.market.budget import CreditBudget
from walletsync.market.errors import PriceSyncError
from walletsync.market.sync import sync_prices
from walletsync.providers.errors import QuotaExceededError, RateLimitedError, UpstreamBadRequestError

from .fakes import FakeTwelveData, MovingClock, anchor


def _settings(settings: Settings, **changes: Any) -> Settings:
    base = {"price_symbols": ["SOL/USD"], "price_intervals": ["1h"], "price_history_days": 10}
    return settings.model_copy(update={**base, **changes})


async def _stored(db: Database, symbol: str, interval: str) -> list[Any]:
    async with db.read() as conn:
        instrument = await candle_store.get_instrument(conn, symbol)
        return await candle_store.bars(conn, instrument.id, interval)


def _truth(source: FakeTwelveData, symbol: str, interval: str, start: Any, end: Any) -> list[Any]:
    return [
        (c.ts, c.open, c.high, c.low, c.close)
        for c in source.market.candles(symbol, interval)
        if start <= c.ts <= end
    ]


async def test_first_sync_stores_history_and_links_native_assets(db: Database, settings: Settings) -> None:
    """The first run fetches WALLETSYNC_PRICE_HISTORY_DAYS of bars in one request, and links SOL and ADA."""
    now = anchor() - timedelta(minutes=30)  # the 23:00 bar is still forming
    source = FakeTwelveData(now=now)
    cfg = _settings(settings, price_symbols=["SOL/USD", "ADA/USD"])
    report = await sync_prices(db, source, cfg, clock=MovingClock(now))
    sol = await _stored(db, "SOL/USD", "1h")
    assert len(sol) == 240
    assert sol[-1].ts == anchor() - timedelta(hours=1)
    expected = _truth(source, "SOL/USD", "1h", sol[0].ts, now)
    assert [(b.ts, b.open, b.high, b.low, b.close) for b in sol[:-1]] == expected[:-1]
    assert source.series_calls() == 2
    # two series, three catalog calls: /exchanges, /cryptocurrency_exchanges, /cryptocurrencies USD
    assert report.credits_used == 2 + 3
    async with db.read() as conn:
        linked = (
            await conn.execute(
                select(assets.c.chain, instruments.c.symbol)
                .join(asset_prices, asset_prices.c.asset_id == assets.c.id)
                .join(instruments, instruments.c.id == asset_prices.c.instrument_id)
                .order_by(assets.c.chain)
            )
        ).all()
        assert await conn.scalar(select(func.count()).select_from(exchanges)) == 4
    assert [tuple(r) for r in linked] == [("cardano", "ADA/USD"), ("solana", "SOL/USD")]


async def test_incremental_runs_leave_no_gap_or_duplicate(db: Database, settings: Settings) -> None:
    """Three runs as time moves (one paging over a long absence) store exactly the provider's series."""
    t1 = anchor() - timedelta(days=30, minutes=20)
    source = FakeTwelveData(now=t1)
    clock = MovingClock(t1)
    cfg = _settings(settings)
    await sync_prices(db, source, cfg, clock=clock, page_size=100)
    first = await _stored(db, "SOL/USD", "1h")
    assert first[-1].close == first[-1].open  # the forming bar, provisional

    source.now = clock.now = t1 + timedelta(hours=5)
    second = await sync_prices(db, source, cfg, clock=clock, page_size=100)
    assert [s.requests for s in second.series] == [1, 1]

    source.now = clock.now = anchor() - timedelta(minutes=1)  # ~30 days later: several pages
    calls_before = source.series_calls("SOL/USD")
    third = await sync_prices(db, source, cfg, clock=clock, page_size=100)
    sol = next(s for s in third.series if s.symbol == "SOL/USD")
    assert source.series_calls("SOL/USD") - calls_before == sol.requests == 8

    stored = await _stored(db, "SOL/USD", "1h")
    timestamps = [b.ts for b in stored]
    assert len(set(timestamps)) == len(timestamps)
    assert all(b - a == timedelta(hours=1) for a, b in itertools.pairwise(timestamps))
    truth = _truth(source, "SOL/USD", "1h", stored[0].ts, source.now)
    # every finished bar equals the truth, the earlier provisional ones included
    assert [(b.ts, b.open, b.high, b.low, b.close) for b in stored[:-1]] == truth[:-1]
    assert stored[-1].ts == truth[-1][0]


async def test_rerun_with_nothing_new_writes_nothing(db: Database, settings: Settings) -> None:
    """Once every bar is final, a re-run re-reads each series' last bar (one credit each), writes nothing."""
    now = anchor() + timedelta(hours=2)  # the provider's series has ended: every bar final
    source = FakeTwelveData(now=now)
    cfg = _settings(settings)
    await sync_prices(db, source, cfg, clock=MovingClock(now))
    again = await sync_prices(db, source, cfg, clock=MovingClock(now), catalogs=False)
    assert again.candles_written == 0
    assert again.credits_used == 2  # SOL/USD, and ADA/USD which prices native ADA


async def test_daily_budget_stops_cleanly_and_resumes_next_utc_day(db: Database, settings: Settings) -> None:
    """With 2 credits a day the sync stops without error, a restart spends nothing, the next day goes on."""
    now = anchor() - timedelta(minutes=5)
    clock = MovingClock(now)
    source = FakeTwelveData(now=now)
    cfg = _settings(settings, price_symbols=["SOL/USD", "ADA/USD", "BTC/USD"], twelvedata_daily_credits=2)
    report = await sync_prices(db, source, cfg, clock=clock, catalogs=False)
    assert report.ok
    assert report.stopped is not None
    assert "daily budget of 2 credits" in report.stopped
    assert "resumes after 2025-06-01T00:00:00+00:00" in report.stopped
    assert source.series_calls() == 2

    # a new process (new CreditBudget) on the same day: the count lives in the database
    again = await sync_prices(db, source, cfg, clock=clock, catalogs=False)
    assert again.credits_used == 0
    assert source.series_calls() == 2
    assert (await CreditBudget(db, limit=2, clock=clock).usage()).remaining == 0

    # the next UTC day the series never synced goes first
    clock.advance(timedelta(days=1))
    next_day = await sync_prices(db, source, cfg, clock=clock, catalogs=False)
    assert next_day.credits_used == 2
    assert next_day.series[0].symbol == "BTC/USD"
    assert len(await _stored(db, "BTC/USD", "1h")) == 240


async def test_bad_symbol_is_a_clear_job_error_and_others_are_stored(
    db: Database, settings: Settings
) -> None:
    """A 400 for one symbol raises PriceSyncError naming it, after the good symbol was stored."""
    now = anchor() - timedelta(hours=3)
    source = FakeTwelveData(now=now)
    source.failures["XXX/USD"] = UpstreamBadRequestError(
        "400: symbol or figi parameter is missing or invalid", provider="twelvedata", http_status=400
    )
    cfg = _settings(settings, price_symbols=["XXX/USD", "SOL/USD"])
    with pytest.raises(PriceSyncError) as caught:
        await sync_prices(db, source, cfg, clock=MovingClock(now), catalogs=False)
    message = str(caught.value)
    assert "XXX/USD 1h" in message
    assert "symbol or figi parameter is missing or invalid" in message
    assert caught.value.report.errors[0].kind == "UpstreamBadRequestError"
    assert len(await _stored(db, "SOL/USD", "1h")) == 240
    async with db.read() as conn:
        assert await candle_store.find_instrument(conn, "XXX/USD") is None  # no row for a mistyped symbol


async def test_provider_out_of_daily_credits_marks_budget_and_stops(db: Database, settings: Settings) -> None:
    """Twelve Data's own 'out of credits for the day' ends the run, and the rest of the day spends nothing."""
    now = anchor() - timedelta(hours=3)
    clock = MovingClock(now)
    source = FakeTwelveData(now=now)
    source.failures["SOL/USD"] = QuotaExceededError(
        "429: You have run out of API credits for the day", provider="twelvedata", http_status=200
    )
    cfg = _settings(settings, price_symbols=["SOL/USD", "ADA/USD"])
    with pytest.raises(PriceSyncError) as caught:
        await sync_prices(db, source, cfg, clock=clock, catalogs=False)
    assert "run out of API credits for the day" in str(caught.value)
    assert caught.value.report.stopped is not None
    assert source.series_calls() == 1  # ADA/USD was not attempted
    del source.failures["SOL/USD"]
    later = await sync_prices(db, source, cfg, clock=clock, catalogs=False)
    assert later.credits_used == 0
    assert source.series_calls() == 1


async def test_minute_rate_limit_after_retries_stops_the_run(db: Database, settings: Settings) -> None:
    """A 429 the client could not wait out stops the run with a clear error instead of hammering on."""
    now = anchor() - timedelta(hours=3)
    source = FakeTwelveData(now=now)
    source.failures["SOL/USD"] = RateLimitedError(
        "429: You have run out of API credits for the current minute"
    )
    cfg = _settings(settings, price_symbols=["SOL/USD", "ADA/USD"])
    with pytest.raises(PriceSyncError, match="current minute"):
        await sync_prices(db, source, cfg, clock=MovingClock(now), catalogs=False)
    assert source.series_calls() == 1


async def test_catalogs_refresh_once_per_day(db: Database, settings: Settings) -> None:
    """Catalogs are fetched on the first run of a UTC day only (or when a symbol is missing)."""
    now = anchor() - timedelta(hours=3)
    clock = MovingClock(now)
    source = FakeTwelveData(now=now)
    cfg = _settings(settings)
    await sync_prices(db, source, cfg, clock=clock)
    await sync_prices(db, source, cfg, clock=clock)
    catalog_calls = [c for c in source.calls if c[0] != "/time_series"]
    assert len(catalog_calls) == 3
    clock.advance(timedelta(days=1))
    await sync_prices(db, source, cfg, clock=clock)
    assert len([c for c in source.calls if c[0] != "/time_series"]) == 6


async def test_daily_close_view_reads_last_hourly_close(db: Database, settings: Settings) -> None:
    """`candles_daily_close` gives each UTC day's last 1h close (a plain view on PostgreSQL)."""
    now = anchor() + timedelta(hours=1)
    source = FakeTwelveData(now=now)
    await sync_prices(
        db, source, _settings(settings, price_history_days=3), clock=MovingClock(now), catalogs=False
    )
    async with db.read() as conn:
        instrument = await candle_store.get_instrument(conn, "SOL/USD")
        closes = await candle_store.daily_closes(conn, instrument.id)
        count = await conn.scalar(
            select(func.count()).select_from(candles).where(candles.c.instrument_id == instrument.id)
        )
    assert count == 72
    hourly = {c.ts: c.close for c in source.market.candles("SOL/USD", "1h")}
    assert [day.isoformat() for day, _ in closes] == [
        "2025-05-29T00:00:00+00:00",
        "2025-05-30T00:00:00+00:00",
        "2025-05-31T00:00:00+00:00",
    ]
    assert all(close == hourly[day + timedelta(hours=23)] for day, close in closes)
