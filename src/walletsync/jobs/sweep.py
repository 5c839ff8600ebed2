"""The periodic sweep: queue a sync for every wallet that is due and has no sync queued or running.

Wallets whose sync is running or waiting are left out here rather than relying on the queueing lock
alone: a running sync holds no queueing lock, so queueing a twin beside it would only make one wait
behind the other (and, before `jobs.app.JobManager`, made their retries collide).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Text, and_, cast, exists, literal, literal_column, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from walletsync.db.engine import Database
from walletsync.db.models import sync_state
from walletsync.jobs.api import defer_sync
from walletsync.jobs.tables import procrastinate_jobs

jobs = procrastinate_jobs


async def due_wallets(conn: AsyncConnection, *, now: datetime, limit: int = 1000) -> list[int]:
    """Wallets due at `now` with no sync job `todo` or `doing`, the longest overdue first."""
    wallet_key = cast(sync_state.c.wallet_id, Text)
    # Both tests use Procrastinate's partial unique indexes (lock WHERE doing, queueing_lock WHERE todo).
    # The statuses are SQL literals, not bind parameters: a generic plan (from the 6th execution on one
    # connection) cannot prove `status = $n` implies an index predicate and would scan the job table.
    busy = exists().where(
        or_(
            and_(jobs.c.lock == literal("wallet-") + wallet_key, jobs.c.status == literal_column("'doing'")),
            and_(
                jobs.c.queueing_lock == literal("sync-wallet-") + wallet_key,
                jobs.c.status == literal_column("'todo'"),
            ),
        )
    )
    rows = await conn.execute(
        select(sync_state.c.wallet_id)
        .where(and_(sync_state.c.next_sync_at <= now, not_(busy)))
        .order_by(sync_state.c.next_sync_at)
        .limit(limit)
    )
    return [row.wallet_id for row in rows]


async def sweep(db: Database, *, now: datetime, limit: int = 1000) -> int:
    """Queue a sync of every due, idle wallet (in one transaction); return how many were queued."""
    async with db.write() as conn:
        due = await due_wallets(conn, now=now, limit=limit)
        for wallet_id in due:
            await defer_sync(conn, wallet_id)
    return len(due)
