"""Honest first runs: one price sync queued at start while none has stored a bar; the unpriced reason
says prices were never synced instead of blaming a missing price link."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, insert, select

from tests.facts import hold_sol
from walletsync.config import Chain
from walletsync.db.engine import Database
from walletsync.db.models import (
    candles,
    instruments,
)
from walletsync.jobs.tables import procrastinate_jobs
from walletsync.market.first_run import queue_first_price_sync
from walletsync.portfolio.valuation import wallet_value
from walletsync.wallets.repository import add_wallet

SOLANA = "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM"


async def _add_candle(db: Database) -> None:
    async with db.write() as conn:
        instrument = await conn.scalar(
            insert(instruments)
            .values(kind="crypto", symbol="BTC/USD", currency_base="BTC", currency_quote="USD")
            .returning(instruments.c.id)
        )
        await conn.execute(
            insert(candles).values(
                instrument_id=instrument,
                interval="1h",
                ts=datetime(2026, 1, 1, tzinfo=UTC),
                open=1,
                high=1,
                low=1,
                close=1,
            )
        )


async def test_first_price_sync_is_queued_once_and_only_before_any_bar(db: Database) -> None:
    """Ten starts (one pooled connection, as processes starting together would) queue one job; none
    once a bar exists."""
    async with db.write() as conn:
        queued = [await queue_first_price_sync(conn) for _ in range(10)]
        count = await conn.scalar(
            select(func.count())
            .select_from(procrastinate_jobs)
            .where(procrastinate_jobs.c.task_name == "sync_prices")
        )
    assert queued == [True] + [False] * 9
    assert count == 1

    async with db.write() as conn:
        await conn.execute(procrastinate_jobs.delete())
    await _add_candle(db)
    async with db.write() as conn:
        assert await queue_first_price_sync(conn) is False
        assert await conn.scalar(select(func.count()).select_from(procrastinate_jobs)) == 0


async def test_unpriced_reason_before_the_first_price_sync(db: Database) -> None:
    """A fresh install: 'no prices synced yet'; once any price is stored, an unlinked asset is
    'no price source linked'."""
    async with db.write() as conn:
        wallet = await add_wallet(conn, chain=Chain.SOLANA, address=SOLANA)
        await hold_sol(conn, wallet.id, 5)
    async with db.read() as conn:
        fresh = await wallet_value(conn, wallet.id)
    assert [p.unpriced_reason for p in fresh.unpriced] == [
        "no prices synced yet (`walletsync prices sync`, or a running worker, fetches them)"
    ]

    await _add_candle(db)
    async with db.read() as conn:
        later = await wallet_value(conn, wallet.id)
    assert [p.unpriced_reason for p in later.unpriced] == ["no price source linked to this asset"]
