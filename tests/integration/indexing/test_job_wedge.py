"""A sync never wedges `doing`: a retry that meets a waiting twin, the sweep, and operator cancel.

Real PostgreSQL, a real Procrastinate worker (in this process), the simulator over HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from walletsync.config import Chain, Settings
from walletsync.db.engine import Database
from walletsync.jobs.api import defer_sync, get_job, list_jobs
from walletsync.jobs.app import open_app
from walletsync.jobs.control import JobNotCancellableError, cancel_job
from walletsync.jobs.sweep import due_wallets, sweep
from walletsync.jobs.tables import procrastinate_jobs, procrastinate_workers
from walletsync.jobs.worker import requeue_stalled, run_worker
from walletsync.services import open_services
from walletsync.simulator.faults import FaultConfig, FaultRule
from walletsync.simulator.ledger import Ledger
from walletsync.simulator.server import SimulatorServer
from walletsync.wallets.repository import add_wallet

from .conftest import simulator_settings


async def _add(db: Database, chain: Chain, address: str) -> int:
    async with db.write() as conn:
        return (await add_wallet(conn, chain=chain, address=address)).id


async def _until(check: Callable[[], Awaitable[bool]], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)  # polling another task's progress; outcomes are asserted, not timing


async def _status(db: Database, job_id: int) -> str:
    async with db.read() as conn:
        return (await get_job(conn, job_id)).status


@contextlib.asynccontextmanager
async def _worker(settings: Settings, database_url: str) -> AsyncIterator[None]:
    """A real worker running in the background of the test, stopped (and awaited) at the end."""
    async with open_services(settings, database_url) as services:
        task = asyncio.create_task(run_worker(services, concurrency=2, install_signal_handlers=False))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


@pytest.fixture
def failing_settings(database_url: str, simulator: SimulatorServer, tmp_path: Path) -> Settings:
    """Every Cardano call answers 500 after 300 ms; two job attempts, breakers that never open."""
    return simulator_settings(
        database_url,
        simulator,
        tmp_path,
        job_max_attempts=2,
        provider_max_attempts=2,
        breaker_failure_threshold=1000,
    )


async def test_retry_meeting_a_waiting_twin_supersedes_instead_of_wedging(
    db: Database,
    ledger: Ledger,
    simulator: SimulatorServer,
    failing_settings: Settings,
    database_url: str,
) -> None:
    """A sync failing while its twin waits ends `cancelled` as superseded; the twin runs; nothing stays doing.

    Without the fix Procrastinate's retry raises UniqueViolation on the queueing lock, the first job
    stays `doing` for good, holds the wallet's lock, and the waiting twin never starts.
    """
    wallet_id = await _add(db, Chain.CARDANO, ledger.cardano_wallets[0])
    async with db.write() as conn:
        first = await defer_sync(conn, wallet_id)
    simulator.set_faults(FaultConfig(providers={"blockfrost": FaultRule(fail_rate=1.0, latency_ms=300)}))
    try:
        async with _worker(failing_settings, database_url):

            async def first_running() -> bool:
                return await _status(db, first) == "doing"

            await _until(first_running, 30, "the first sync to start")
            async with db.write() as conn:
                twin = await defer_sync(conn, wallet_id)  # a user asks again while it runs
            assert twin != first

            async def both_finished() -> bool:
                return {await _status(db, first), await _status(db, twin)} <= {"cancelled", "failed"}

            await _until(both_finished, 60, "both syncs to finish")
    finally:
        simulator.set_faults(FaultConfig())
    async with db.read() as conn:
        first_job = await get_job(conn, first)
        twin_job = await get_job(conn, twin)
        doing = (
            await conn.execute(select(procrastinate_jobs.c.id).where(procrastinate_jobs.c.status == "doing"))
        ).all()
    assert first_job.status == "cancelled"
    assert first_job.last_error == (
        f"Superseded: its attempt failed and a retry was due; job {twin}, identical and already waiting, "
        "takes over"
    )
    # The twin ran with no sibling waiting: it retried once, then was dead-lettered after 2 attempts.
    assert (twin_job.status, twin_job.attempts) == ("failed", 2)
    assert twin_job.last_error is not None
    assert "blockfrost" in twin_job.last_error
    assert doing == []


async def test_sweep_skips_wallets_with_a_sync_waiting_or_running(db: Database, ledger: Ledger) -> None:
    """Due wallets are queued once; one with a sync `doing` or `todo` is not queued again."""
    running, waiting, idle = [await _add(db, Chain.SOLANA, a) for a in ledger.solana_wallets[:3]]
    async with db.write() as conn:
        running_job = await defer_sync(conn, running)
        await defer_sync(conn, waiting)
        await conn.execute(
            procrastinate_jobs.update().where(procrastinate_jobs.c.id == running_job).values(status="doing")
        )
    now = datetime.now(UTC) + timedelta(seconds=1)  # every new wallet is due at once
    async with db.read() as conn:
        assert await due_wallets(conn, now=now) == [idle]
    # Repeated like production repeats it (generic plans after 5 executions on one pooled connection).
    for _ in range(12):
        assert await sweep(db, now=now) in (0, 1)
    async with db.read() as conn:
        syncs = [j for j in await list_jobs(conn) if j.task_name == "sync_wallet"]
    assert sorted((j.args["wallet_id"], j.status) for j in syncs) == sorted(
        [(running, "doing"), (waiting, "todo"), (idle, "todo")]
    )


async def test_cancel_waiting_running_and_finished_jobs(db: Database, ledger: Ledger) -> None:
    """todo → cancelled at once; doing → abort requested (force: cancelled, lock released); finished → 409."""
    a, b = [await _add(db, Chain.SOLANA, addr) for addr in ledger.solana_wallets[:2]]
    async with db.write() as conn:
        waiting = await defer_sync(conn, a)
        running = await defer_sync(conn, b)
        await conn.execute(
            procrastinate_jobs.update().where(procrastinate_jobs.c.id == running).values(status="doing")
        )
    cancelled = await cancel_job(db, waiting)
    assert (cancelled.status, cancelled.last_error) == ("cancelled", "Cancelled by an operator (was todo)")

    asked = await cancel_job(db, running)
    assert asked.status == "doing"
    async with db.read() as conn:
        abort = await conn.scalar(
            select(procrastinate_jobs.c.abort_requested).where(procrastinate_jobs.c.id == running)
        )
    assert abort is True

    forced = await cancel_job(db, running, force=True)
    assert (forced.status, forced.last_error) == ("cancelled", "Cancelled by an operator (was doing)")
    async with db.write() as conn:
        again = await defer_sync(conn, b)  # the wallet's lock is free again
    assert again != running

    with pytest.raises(JobNotCancellableError, match=f"job {waiting} is cancelled"):
        await cancel_job(db, waiting)


async def test_a_lost_workers_job_with_a_waiting_twin_is_superseded_not_failed(
    db: Database, ledger: Ledger, database_url: str
) -> None:
    """The reaper closes a dead worker's sync as superseded (cancelled) when its twin waits: the failed
    list only holds jobs that truly failed."""
    wallet_id = await _add(db, Chain.SOLANA, ledger.solana_wallets[0])
    async with db.write() as conn:
        lost = await defer_sync(conn, wallet_id)
        dead = await conn.scalar(
            insert(procrastinate_workers)
            .values(last_heartbeat=func.now() - timedelta(minutes=5))
            .returning(procrastinate_workers.c.id)
        )
        await conn.execute(
            procrastinate_jobs.update()
            .where(procrastinate_jobs.c.id == lost)
            .values(status="doing", worker_id=dead)
        )
        twin = await defer_sync(conn, wallet_id)
    async with open_app(database_url) as app:
        assert await requeue_stalled(app, db, stalled_after_s=60) == 1
    async with db.read() as conn:
        job = await get_job(conn, lost)
        failed = await list_jobs(conn, status="failed")
        twin_status = (await get_job(conn, twin)).status
    assert job.status == "cancelled"
    assert job.last_error == (
        f"Superseded: WorkerLost: its worker stopped; job {twin}, identical and already waiting, takes over"
    )
    assert failed == []
    assert twin_status == "todo"
