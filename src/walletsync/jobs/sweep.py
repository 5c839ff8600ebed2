"""The periodic sweep: queue a sync for every wallet that is due and has no sync queued or running.

Wallets whose sync is running or waiting are left out here rather than relying on the queueing lock
alone: a running sync holds no queueing lock, so queueing a twin beside it would only make one wait
behind the other (and, before `jobs.app.JobManager`, made their retries collide).

The sweep queues every due wallet with one `INSERT … SELECT`, the same row `jobs.api.defer_sync`
writes for one wallet (at 10,000 due wallets, two or three statements per wallet took minutes).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Select,
    Text,
    and_,
    cast,
    false,
    func,
    literal,
    literal_column,
    select,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from walletsync.db.engine import Database
from walletsync.db.models import sync_state
from walletsync.jobs.api import WAITING
from walletsync.jobs.app import SYNC_QUEUE
from walletsync.jobs.tables import job_status, procrastinate_jobs

jobs = procrastinate_jobs


def _due(now: datetime, limit: int) -> Select[Any]:
    """Wallets due at `now` with no sync job `todo` or `doing`, the longest overdue first."""
    wallet_key = cast(sync_state.c.wallet_id, Text)
    # NOT IN over the locks of running and waiting jobs, which PostgreSQL runs as a hashed subplan: one
    # pass over those jobs per sweep, whatever the statistics say. The anti-join forms (NOT EXISTS, or
    # EXISTS over an OR) were planned as nested loops over the job table once it had no statistics or
    # the plan went generic: each due wallet compared with every queued job (10,000 wallets: 20-40 s).
    # The statuses are SQL literals, not bind parameters, so a generic plan still sees which partial
    # index (lock WHERE doing, queueing_lock WHERE todo) holds the rows. NULL locks are left out: one
    # NULL in a NOT IN list makes the test unknown for every wallet.
    running = select(jobs.c.lock).where(
        and_(jobs.c.status == literal_column("'doing'"), jobs.c.lock.is_not(None))
    )
    waiting = select(jobs.c.queueing_lock).where(
        and_(jobs.c.status == literal_column("'todo'"), jobs.c.queueing_lock.is_not(None))
    )
    return (
        select(sync_state.c.wallet_id)
        .where(
            and_(
                sync_state.c.next_sync_at <= now,
                (literal("wallet-") + wallet_key).not_in(running),
                (literal("sync-wallet-") + wallet_key).not_in(waiting),
            )
        )
        .order_by(sync_state.c.next_sync_at)
        .limit(limit)
    )


async def due_wallets(conn: AsyncConnection, *, now: datetime, limit: int = 1000) -> list[int]:
    """Wallets due at `now` with no sync job `todo` or `doing`, the longest overdue first."""
    rows = await conn.execute(_due(now, limit))
    return [int(wallet_id) for wallet_id in rows.scalars()]


async def sweep(db: Database, *, now: datetime, limit: int = 1000) -> int:
    """Queue a sync of every due, idle wallet (in one statement); return how many were queued."""
    due = _due(now, limit).subquery()
    wallet_key = cast(due.c.wallet_id, Text)
    # The row `defer_sync` writes, one per due wallet (lock and queueing lock as in `jobs.api.sync_locks`).
    rows = select(
        literal(SYNC_QUEUE),
        literal("sync_wallet"),
        literal(0),
        literal("wallet-") + wallet_key,
        literal("sync-wallet-") + wallet_key,
        func.jsonb_build_object("wallet_id", due.c.wallet_id),
        cast(literal_column("'todo'"), job_status),
        literal(0),
        false(),
    )
    statement = (
        pg_insert(jobs)
        .from_select(
            [
                "queue_name",
                "task_name",
                "priority",
                "lock",
                "queueing_lock",
                "args",
                "status",
                "attempts",
                "abort_requested",
            ],
            rows,
        )
        # A twin queued between the due check and this insert (an API request) wins; this row is dropped.
        .on_conflict_do_nothing(index_elements=["queueing_lock"], index_where=WAITING)
        .returning(jobs.c.id)
    )
    async with db.write() as conn:
        queued = (await conn.execute(statement)).scalars().all()
    return len(queued)
