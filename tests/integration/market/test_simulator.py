"""`sync_prices` over HTTP against the bundled simulator: real client, real adapter, ground truth."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from walletsync.config import Settings
from walletsync.db.engine import Database
from walletsync.db.models import exchanges, instruments
from walletsync.market import candles as candle_store
from walletsync.market.sync import sync_prices
from walletsync.providers import twelvedata
from walletsync.providers.clients import build_provider_clients
from walletsync.providers.twelvedata import TwelveDataAdapter
from walletsync.simulator.ledger import Ledger
from walletsync.simulator.server import SimulatorServer

from .fakes import MovingClock


async def test_simulator_prices_match_ground_truth_and_rerun_is_idempotent(
    db: Database, settings: Settings
) -> None:
    """Catalogs and 1h/1day bars land exactly as the simulator's truth; a second run changes nothing."""
    ledger = Ledger(seed=11, solana_wallets=0, cardano_wallets=0)
    with SimulatorServer(ledger) as server:
        cfg = settings.model_copy(
            update={
                "twelvedata_urls": [server.url("twelvedata")],
                "twelvedata_rate_per_min": 6000.0,
                "price_symbols": ["SOL/USD", "AAPL"],
                "price_intervals": ["1h", "1day"],
                "price_history_days": 30,
                "price_stock_exchanges": ["NASDAQ"],
            }
        )
        clock = MovingClock(datetime(2025, 6, 1, 12, tzinfo=UTC))
        clients = build_provider_clients(cfg, classifiers={"twelvedata": twelvedata.classify_error})
        async with clients:
            adapter = TwelveDataAdapter(clients.get("twelvedata"))
            first = await sync_prices(db, adapter, cfg, clock=clock)
            second = await sync_prices(db, adapter, cfg, clock=clock, catalogs=True)

    assert first.ok
    assert {s.symbol for s in first.series} == {"SOL/USD", "AAPL", "ADA/USD"}
    assert second.candles_written == 0
    assert all(c.inserted == 0 and c.updated == 0 for c in second.catalogs.values())
    async with db.read() as conn:
        assert await conn.scalar(select(func.count()).select_from(exchanges)) >= 3
        assert await conn.scalar(select(func.count()).where(instruments.c.symbol == "AAPL")) == 1
        for symbol, interval, count in (
            ("SOL/USD", "1h", 720),
            ("SOL/USD", "1day", 30),
            ("AAPL", "1day", 30),
        ):
            instrument = await candle_store.get_instrument(conn, symbol)
            stored = await candle_store.bars(conn, instrument.id, interval)
            truth = ledger.candles(symbol, interval)[-count:]
            # a stock's daily bar starts at its exchange's midnight (New York), as Twelve Data dates it
            assert [(b.ts, b.open, b.high, b.low, b.close, b.volume) for b in stored] == [
                (c.ts, c.open, c.high, c.low, c.close, c.volume) for c in truth
            ], (symbol, interval)
        aapl = await candle_store.get_instrument(conn, "AAPL")
        assert aapl.exchange == "NASDAQ"
