"""How many worker processes share the providers' rate limits: the fallback share when Redis is down.

Each process refreshes the count of workers with a fresh heartbeat (Procrastinate's worker table)
every `interval_s` in the background; the rate limiter reads the last value synchronously
(`providers.ratelimit.RedisTokenBucket(shares=...)`), so a limiter never waits on the database.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

import structlog
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from walletsync.db.engine import Database
from walletsync.jobs.tables import procrastinate_workers

log = structlog.get_logger(__name__)

REFRESH_S = 10.0


async def live_workers(conn: AsyncConnection, *, stale_after_s: float) -> int:
    """Workers whose last heartbeat is younger than `stale_after_s`."""
    return int(
        await conn.scalar(
            select(func.count())
            .select_from(procrastinate_workers)
            .where(procrastinate_workers.c.last_heartbeat > func.now() - timedelta(seconds=stale_after_s))
        )
        or 0
    )


class WorkerShare:
    """The last known number of live workers (at least 1); callable, for the rate limiter."""

    def __init__(self) -> None:
        self.count = 1

    def __call__(self) -> int:
        return self.count

    async def refresh(self, db: Database, *, stale_after_s: float) -> None:
        async with db.read() as conn:
            self.count = max(1, await live_workers(conn, stale_after_s=stale_after_s))

    @contextlib.asynccontextmanager
    async def kept_fresh(
        self, db: Database, *, stale_after_s: float, interval_s: float = REFRESH_S
    ) -> AsyncIterator[WorkerShare]:
        """Refresh in the background for the block (a failed refresh keeps the last count)."""

        async def loop() -> None:
            while True:
                try:
                    await self.refresh(db, stale_after_s=stale_after_s)
                except Exception as exc:  # noqa: BLE001 - the database may be down; keep the last count
                    log.debug("worker_share.refresh_failed", error=type(exc).__name__)
                await asyncio.sleep(interval_s)

        task = asyncio.create_task(loop(), name="worker-share")
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
