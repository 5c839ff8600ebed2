"""A US stock synced incrementally across the March 2025 DST change has no gap (Twelve Data reads
request bounds in exchange-local time; the simulator does too). Truth: the simulator's own series."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import delete

from walletsync.config import Settings
from walletsync.db.engine import Database
from walletsync.db.models import candles
from walletsync.market import candles as candle_store
from walletsync.market.sync import sync_prices
from walletsync.market.zones import exchange_timezone
from walletsync.providers import twelvedata
from walletsync.providers.clients import build_provider_clients
from walletsync.providers.twelvedata import TwelveDataAdapter
from walletsync.simulator.ledger import Ledger
from walletsync.simulator.server import SimulatorServer

from .fakes import MovingClock

# Friday 2025-03-07 11:00 New York (EST, UTC-5): the last bar kept. US DST starts Sunday 03-09.
CUT = datetime(2025, 3, 7, 16, tzinfo=UTC)
UNTIL = datetime(2025, 3, 14, tzinfo=UTC)  # a week later (EDT, UTC-4)


@pytest.mark.parametrize("catalogs", [False, True], ids=["zone-from-series", "zone-from-catalog"])
async def test_stock_incremental_sync_across_dst_has_no_gap(
    db: Database, settings: Settings, catalogs: bool
) -> None:
    ledger = Ledger(seed=11, solana_wallets=0, cardano_wallets=0)
    truth = [c for c in ledger.candles("AAPL", "1h") if CUT < c.ts < UNTIL]
    # Hand-checked against the New York session (10:00-15:00 bar starts): 4 more bars on Friday in
    # EST (17:00-20:00 UTC), then 14:00-19:00 UTC from Monday in EDT.
    assert [c.ts.hour for c in truth[:10]] == [17, 18, 19, 20, 14, 15, 16, 17, 18, 19]
    with SimulatorServer(ledger) as server:
        cfg = settings.model_copy(
            update={
                "twelvedata_urls": [server.url("twelvedata")],
                "twelvedata_rate_per_min": 6000.0,
                "price_symbols": ["AAPL"],
                "price_intervals": ["1h"],
                "price_history_days": 200,
                "price_stock_exchanges": ["NASDAQ"],
            }
        )
        clock = MovingClock(datetime(2025, 6, 1, 12, tzinfo=UTC))
        clients = build_provider_clients(cfg, classifiers={"twelvedata": twelvedata.classify_error})
        async with clients:
            adapter = TwelveDataAdapter(clients.get("twelvedata"))
            await sync_prices(db, adapter, cfg, clock=clock, catalogs=catalogs)
            async with db.write() as conn:
                instrument = await candle_store.get_instrument(conn, "AAPL")
                assert await exchange_timezone(conn, instrument.id) == "America/New_York"
                # Back to the state of a sync that last ran on Friday 11:00 New York time.
                await conn.execute(
                    delete(candles).where(candles.c.instrument_id == instrument.id, candles.c.ts > CUT)
                )
            # Small pages: the run pages backwards through the DST change with local-time bounds.
            await sync_prices(db, adapter, cfg, clock=clock, catalogs=False, page_size=25)
    async with db.read() as conn:
        stored = await candle_store.bars(conn, instrument.id, "1h", start=CUT, end=UNTIL)
    assert [(b.ts, b.close) for b in stored if b.ts > CUT] == [(c.ts, c.close) for c in truth]
