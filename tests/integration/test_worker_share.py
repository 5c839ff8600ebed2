"""The live-worker count each process uses as its share of a provider limit while Redis is down."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, insert

from walletsync.db.engine import Database
from walletsync.jobs.share import WorkerShare
from walletsync.jobs.tables import procrastinate_workers


async def test_counts_workers_with_a_fresh_heartbeat(db: Database) -> None:
    share = WorkerShare()
    for _ in range(10):  # refreshed every 10 s in production, on one pooled connection
        await share.refresh(db, stale_after_s=60)
    assert share() == 1  # no worker yet (this process alone): the whole limit
    async with db.write() as conn:
        for age in (timedelta(0), timedelta(seconds=30), timedelta(minutes=5)):
            await conn.execute(insert(procrastinate_workers).values(last_heartbeat=func.now() - age))
    await share.refresh(db, stale_after_s=60)
    assert share() == 2
