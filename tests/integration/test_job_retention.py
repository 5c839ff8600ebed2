"""Nothing in the job tables grows without bound: three simulated weeks of sweeps, syncs and pruning.

The clock is injected: each simulated tick (3 hours) runs the periodic sweep (deferred through Procrastinate's
own periodic function), fetches and finishes every queued job through Procrastinate's SQL functions,
stamps the events and failures of that tick with the simulated time, and prunes at that time.
Expected row counts are worked out by hand from the schedule (see each number's comment).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    String,
    cast,
    func,
    insert,
    literal,
    literal_column,
    select,
    table,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection

from walletsync.config import Chain
from walletsync.db.engine import Database
from walletsync.db.models import job_failures, sync_state
from walletsync.jobs.retention import prune_jobs
from walletsync.jobs.sweep import sweep
from walletsync.jobs.tables import (
    job_status,
    procrastinate_events,
    procrastinate_jobs,
    procrastinate_workers,
)
from walletsync.wallets.repository import add_wallet

WALLETS = [
    "4Nd1mBQtrMJVYVfKf2PJy9NZUZdTAsp7D4xWLs4gDB4T",
    "So11111111111111111111111111111111111111112",
    "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA",
    "Vote111111111111111111111111111111111111111",
    "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM",
]
TICK = timedelta(hours=3)  # the sweep runs every minute in production; every 3 h is enough here


async def _count(conn: AsyncConnection, table: Any) -> int:
    return int(await conn.scalar(select(func.count()).select_from(table)) or 0)


async def _counts(db: Database) -> dict[str, int]:
    async with db.read() as conn:
        return {
            "jobs": await _count(conn, procrastinate_jobs),
            "events": await _count(conn, procrastinate_events),
            "failures": await _count(conn, job_failures),
            "periodic_defers": await _count(conn, table("procrastinate_periodic_defers")),
            "workers": await _count(conn, procrastinate_workers),
        }


async def _run_tick(db: Database, now: datetime, worker_id: int, failing_wallet: int) -> None:
    """One simulated tick: the periodic sweep, every queued job run to its end, then the prune."""
    async with db.write() as conn:
        await conn.execute(
            select(
                func.procrastinate_defer_periodic_job_v2(
                    "maintenance",
                    cast(literal(None), String),
                    "sweep",
                    "sweep_due_wallets",
                    0,
                    "sweep",
                    cast(literal(int(now.timestamp())), BigInteger),
                    literal({"timestamp": int(now.timestamp())}, JSONB),
                )
            )
        )
    while True:
        async with db.write() as conn:
            job = (
                await conn.execute(
                    select(literal_column("*")).select_from(
                        func.procrastinate_fetch_job_v2(
                            cast(literal(["maintenance", "sync"]), ARRAY(String)),
                            cast(literal(worker_id), BigInteger),
                        ).alias("job")
                    )
                )
            ).one()
        if job.id is None:
            break
        status = "succeeded"
        if job.task_name == "sweep_due_wallets":
            await sweep(db, now=now)
        elif job.args["wallet_id"] == failing_wallet:
            status = "failed"
            async with db.write() as conn:
                await conn.execute(
                    insert(job_failures).values(
                        job_id=job.id, task_name=job.task_name, attempt=1, error="ProviderError: down"
                    )
                )
        else:
            async with db.write() as conn:
                await conn.execute(
                    update(sync_state)
                    .where(sync_state.c.wallet_id == job.args["wallet_id"])
                    .values(next_sync_at=now + timedelta(seconds=300))
                )
        async with db.write() as conn:
            await conn.execute(
                select(
                    func.procrastinate_finish_job_v1(
                        cast(literal(job.id), BigInteger), cast(literal(status), job_status), False
                    )
                )
            )
    # The database stamps events and failures with its own clock (the present); the simulated tick
    # lies in the past, so every row newer than it was written during this tick.
    async with db.write() as conn:
        await conn.execute(update(procrastinate_events).where(procrastinate_events.c.at > now).values(at=now))
        await conn.execute(update(job_failures).where(job_failures.c.created_at > now).values(created_at=now))
    await prune_jobs(db, now=now, retention=timedelta(days=7), failed_retention=timedelta(days=14))


async def test_three_simulated_weeks_of_sweeps_and_pruning_stay_bounded(db: Database) -> None:
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=30)
    async with db.write() as conn:
        wallet_ids = [(await add_wallet(conn, chain=Chain.SOLANA, address=a)).id for a in WALLETS]
        await conn.execute(update(sync_state).values(next_sync_at=start))
        worker_id = int(await conn.scalar(select(func.procrastinate_register_worker_v1())))
        # Work in flight is never pruned, however old: a job waiting for a retry in the far future,
        # and one running (on the live worker).
        for status in ("todo", "doing"):
            await conn.execute(
                insert(procrastinate_jobs).values(
                    queue_name="other",
                    task_name="sync_prices",
                    priority=0,
                    args={},
                    status=status,
                    scheduled_at=start + timedelta(days=365),
                    attempts=1,
                    abort_requested=False,
                    worker_id=worker_id if status == "doing" else None,
                )
            )
        await conn.execute(update(procrastinate_events).values(at=start))
    failing = wallet_ids[0]

    snapshots: dict[int, dict[str, int]] = {}
    now = start
    for tick in range(1, 21 * 8 + 1):
        now = start + tick * TICK
        await _run_tick(db, now, worker_id, failing)
        if tick in (15 * 8, 21 * 8):
            snapshots[tick // 8] = await _counts(db)

    # Kept after each prune: jobs that ended at most 7 days ago (56 ticks back and this one: 57 runs),
    # failed ones at most 14 days ago (113 runs).
    succeeded_syncs = 4 * 57  # four healthy wallets
    sweeps = 57
    failed_syncs = 113  # the failing wallet, one failed attempt a tick
    in_flight = 2
    expected = {
        "jobs": succeeded_syncs + sweeps + failed_syncs + in_flight,  # 400
        # deferred + started + (succeeded|failed) per finished job; the waiting job: deferred and
        # scheduled; the running one was inserted as running (no event)
        "events": 3 * (succeeded_syncs + sweeps + failed_syncs) + 2,
        "failures": failed_syncs,
        "periodic_defers": 1,  # Procrastinate keeps the latest defer per schedule
        "workers": 1,
    }
    assert snapshots == {15: expected, 21: expected}
