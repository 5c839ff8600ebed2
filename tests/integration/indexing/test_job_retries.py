"""Periodic jobs get the same retries and dead letters as syncs (real worker, simulator over HTTP)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from walletsync.db.engine import Database
from walletsync.db.models import job_failures
from walletsync.jobs.api import get_job
from walletsync.jobs.app import app
from walletsync.jobs.tables import procrastinate_jobs
from walletsync.jobs.worker import run_worker
from walletsync.services import open_services
from walletsync.simulator.faults import FaultConfig, FaultRule
from walletsync.simulator.server import SimulatorServer

from .conftest import simulator_settings


async def test_failing_price_sync_is_retried_up_to_job_max_attempts_then_dead_lettered(
    db: Database,
    simulator: SimulatorServer,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Twelve Data answering 500: sync_prices runs exactly WALLETSYNC_JOB_MAX_ATTEMPTS (3) times, then stays failed."""
    settings = simulator_settings(
        database_url,
        simulator,
        tmp_path,
        job_max_attempts=3,
        provider_max_attempts=1,
        breaker_failure_threshold=1000,
        twelvedata_rate_per_min=600_000.0,
    )
    # Only the job below runs: the hourly schedule would queue a twin of it (which supersedes it).
    monkeypatch.setattr(app.periodic_registry, "periodic_tasks", {})
    async with db.write() as conn:
        job_id = int(
            await conn.scalar(
                insert(procrastinate_jobs)
                .values(
                    queue_name="market",
                    task_name="sync_prices",
                    priority=0,
                    queueing_lock="sync_prices",
                    args={"timestamp": 0},
                    status="todo",
                    attempts=0,
                    abort_requested=False,
                )
                .returning(procrastinate_jobs.c.id)
            )
        )
    simulator.set_faults(FaultConfig(providers={"twelvedata": FaultRule(fail_rate=1.0)}))
    try:
        async with open_services(settings, database_url) as services:
            worker = asyncio.create_task(
                run_worker(services, concurrency=1, queues=["market"], install_signal_handlers=False)
            )
            try:
                deadline = time.monotonic() + 90  # two backoffs of at most 5 s and 10 s
                while True:
                    async with db.read() as conn:
                        job = await get_job(conn, job_id)
                    if job.status == "failed" or time.monotonic() > deadline:
                        break
                    await asyncio.sleep(0.1)  # polling the worker task; the outcome is asserted below
            finally:
                worker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker
    finally:
        simulator.set_faults(FaultConfig())
    async with db.read() as conn:
        attempts = list(
            (
                await conn.execute(
                    select(job_failures.c.attempt)
                    .where(job_failures.c.job_id == job_id)
                    .order_by(job_failures.c.id)
                )
            ).scalars()
        )
    assert (job.status, job.attempts) == ("failed", 3)
    assert attempts == [1, 2, 3]
    assert job.last_error is not None
    assert job.last_error.startswith("PriceSyncError: price sync finished with")
