"""Running Procrastinate workers with walletsync's services in their context.

Each worker also runs a reaper: every few seconds it requeues jobs left `doing` by a worker whose
heartbeat stopped (killed, crashed, its machine gone), so a SIGKILLed worker's sync resumes on
another worker within `WALLETSYNC_WORKER_STALLED_AFTER` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable

import procrastinate
import structlog
from procrastinate.exceptions import UniqueViolation
from procrastinate.jobs import Status
from sqlalchemy import insert

from walletsync.db.engine import Database
from walletsync.db.models import job_failures
from walletsync.jobs.app import QUEUES, open_app
from walletsync.jobs.tasks import RETRY_POLICY, record_failures
from walletsync.services import Services

log = structlog.get_logger(__name__)


async def requeue_stalled(app: procrastinate.App, db: Database, *, stalled_after_s: float) -> int:
    """Requeue every job whose worker has not sent a heartbeat for `stalled_after_s`; return how many.

    A stalled sync whose wallet already has a sync waiting (the sweep queued one) is closed as failed
    instead, with the reason in `job_failures`: the waiting twin resumes from the same cursor.
    """
    stalled = list(await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after_s))
    for job in stalled:
        assert job.id is not None
        try:
            await app.job_manager.retry_job(job)
        except UniqueViolation:
            await app.job_manager.finish_job_by_id_async(job.id, status=Status.FAILED, delete_job=False)
            async with db.write() as conn:
                await conn.execute(
                    insert(job_failures).values(
                        job_id=job.id,
                        task_name=job.task_name,
                        attempt=job.attempts + 1,
                        error="WorkerLost: its worker stopped; an identical job already waiting takes over",
                    )
                )
            log.warning("job.stalled.superseded", job_id=job.id, task=job.task_name)
        else:
            log.warning("job.stalled.requeued", job_id=job.id, task=job.task_name)
    return len(stalled)


async def _reaper(app: procrastinate.App, db: Database, *, stalled_after_s: float) -> None:
    interval = max(1.0, stalled_after_s / 4)
    while True:
        try:
            await requeue_stalled(app, db, stalled_after_s=stalled_after_s)
        except Exception as exc:  # noqa: BLE001 - the reaper must outlive a passing database error
            log.warning("job.reaper.failed", error=str(exc))
        await asyncio.sleep(interval)


async def run_worker(
    services: Services,
    *,
    concurrency: int,
    queues: Iterable[str] | None = None,
    install_signal_handlers: bool = True,
    wait: bool = True,
) -> None:
    """Process jobs until stopped (SIGINT/SIGTERM, or cancellation); with wait=False, until the queue is empty."""
    settings = services.settings
    RETRY_POLICY.max_attempts = settings.job_max_attempts
    chosen = list(queues) if queues else list(QUEUES)
    async with open_app(services.db.direct_url, max_pool_size=concurrency + 3) as app:
        reaper = asyncio.create_task(
            _reaper(app, services.db, stalled_after_s=settings.worker_stalled_after_s)
        )
        log.info("worker.started", concurrency=concurrency, queues=chosen)
        try:
            await app.run_worker_async(
                concurrency=concurrency,
                queues=chosen,
                wait=wait,
                additional_context={"services": services},
                worker_middleware=[record_failures],
                install_signal_handlers=install_signal_handlers,
                update_heartbeat_interval=settings.worker_heartbeat_s,
                stalled_worker_timeout=settings.worker_stalled_after_s,
            )
        finally:
            reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reaper
        log.info("worker.stopped")
