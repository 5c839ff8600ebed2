"""A fresh install's first prices: queue one price sync at start when none has ever stored a bar.

Without it, a new production install shows every value as unpriced until the hourly `sync_prices`
schedule first fires (up to an hour). `serve` and `worker` call `queue_first_price_sync` at start;
the job's queueing lock ("sync_prices", the task's own) keeps it to one waiting job however many
processes start at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog
from sqlalchemy import exists, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from walletsync.db.models import candles
from walletsync.jobs.app import MARKET_QUEUE
from walletsync.jobs.tables import procrastinate_jobs as jobs

if TYPE_CHECKING:
    from walletsync.services import Services

log = structlog.get_logger(__name__)

PRICE_SYNC_LOCK = "sync_prices"  # the queueing lock of jobs.tasks.sync_prices_task


async def prices_synced(conn: AsyncConnection) -> bool:
    """True once any price bar is stored (a price sync has run and found something)."""
    return bool(await conn.scalar(select(exists().select_from(candles))))


async def queue_first_price_sync(conn: AsyncConnection) -> bool:
    """Queue a `sync_prices` job when no price was ever synced; True when one was queued here."""
    if await prices_synced(conn):
        return False
    inserted = await conn.scalar(
        pg_insert(jobs)
        .values(
            queue_name=MARKET_QUEUE,
            task_name="sync_prices",
            priority=0,
            queueing_lock=PRICE_SYNC_LOCK,
            args={},
            status="todo",
            attempts=0,
            abort_requested=False,
        )
        .on_conflict_do_nothing()
        .returning(jobs.c.id)
    )
    return inserted is not None


async def queue_first_prices_at_start(services: Services) -> None:
    """`serve` and `worker` at start: queue the first price sync if Twelve Data is configured."""
    if services.twelvedata is None:
        return
    async with services.db.write() as conn:
        if await queue_first_price_sync(conn):
            log.info("market.first_sync.queued")
