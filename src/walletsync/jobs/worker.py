"""Running Procrastinate workers with walletsync's services in their context.

Each worker also runs a reaper: every few seconds it requeues jobs left `doing` by a worker whose
heartbeat stopped (killed, crashed, its machine gone), so a SIGKILLed worker's sync resumes on
another worker within `WALLETSYNC_WORKER_STALLED_AFTER` seconds. A worker that loses the database
keeps going once it is back (`jobs.supervise`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable

import procrastinate
import procrastinate.worker
import structlog

from walletsync.db.engine import Database
from walletsync.events.relay import start_relay, stop_relay
from walletsync.jobs.app import QUEUES, JobManager, open_app
from walletsync.jobs.control import supersede
from walletsync.jobs.supervise import (
    Ended,
    database_answers,
    restart_delay,
    run_once,
    stop_on_signals,
    stopped_within,
    wait_for_database,
)
from walletsync.jobs.tasks import RETRY_POLICY, RUNNING, record_failures, track_running
from walletsync.services import Services

log = structlog.get_logger(__name__)


async def requeue_stalled(app: procrastinate.App, db: Database, *, stalled_after_s: float) -> int:
    """Requeue every job whose worker has not sent a heartbeat for `stalled_after_s`; return how many.

    A stalled job whose identical twin already waits (the sweep or a user queued one) ends as
    superseded instead (`cancelled`, the reason in `job_failures`): the twin resumes from the same
    cursor, and the failed list only shows jobs that truly failed.
    """
    stalled = list(await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after_s))
    # Jobs this process still runs are not lost: its worker may have ended (heartbeat gone) while
    # they finish, before the supervisor starts it again.
    stalled = [job for job in stalled if job.id not in RUNNING]
    for job in stalled:
        assert job.id is not None
        twin = await supersede(db, job.id, why="WorkerLost: its worker stopped")
        if twin is not None:
            log.warning("job.stalled.superseded", job_id=job.id, task=job.task_name, by_job_id=twin)
            continue
        await app.job_manager.retry_job(job)
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
    stop: asyncio.Event | None = None,
) -> None:
    """Process jobs until stopped (SIGINT/SIGTERM, `stop` set, or cancellation); with wait=False, until the queue is empty.

    Setting `stop` is the sure way for the caller: running jobs finish, then this returns. A
    cancellation can be lost on Python 3.11 while the worker starts (`jobs.supervise._stop`).

    A worker that loses the database starts again once it answers (`jobs.supervise`); after
    WALLETSYNC_WORKER_RECONNECT_TIMEOUT seconds without it, `DatabaseUnavailableError` is raised.
    """
    settings = services.settings
    RETRY_POLICY.max_attempts = settings.job_max_attempts
    chosen = list(queues) if queues else list(QUEUES)
    stop = stop or asyncio.Event()
    signals = stop_on_signals(stop) if install_signal_handlers else contextlib.nullcontext()
    async with open_app(services.db.direct_url, max_pool_size=concurrency + 3) as app:
        manager = app.job_manager
        assert isinstance(manager, JobManager)

        async def on_retry_conflict(job_id: int) -> int | None:
            return await supersede(services.db, job_id, why="its attempt failed and a retry was due")

        def new_worker() -> procrastinate.worker.Worker:
            # What `app.run_worker_async` builds (walletsync's app has no import paths and no worker
            # defaults), kept in hand to be stopped with `stop()`: a cancellation can be lost
            # (`jobs.supervise._stop`).
            return procrastinate.worker.Worker(
                app=app,
                concurrency=concurrency,
                queues=chosen,
                wait=wait,
                additional_context={"services": services},
                worker_middleware=[track_running, record_failures],
                install_signal_handlers=False,  # ours tell a requested stop from a lost database
                update_heartbeat_interval=settings.worker_heartbeat_s,
                stalled_worker_timeout=settings.worker_stalled_after_s,
            )

        manager.on_retry_conflict = on_retry_conflict
        reaper = asyncio.create_task(
            _reaper(app, services.db, stalled_after_s=settings.worker_stalled_after_s)
        )
        relay = start_relay(services.db, settings) if wait else None  # events: outbox -> webhooks
        log.info("worker.started", concurrency=concurrency, queues=chosen)
        try:
            with signals:
                quick_restarts = 0
                while True:
                    started = time.monotonic()
                    if await run_once(new_worker(), stop, wait=wait) is not Ended.LOST:
                        break
                    reconnected = await wait_for_database(
                        lambda: database_answers(services.db.direct_url),
                        stop,
                        timeout_s=settings.worker_reconnect_timeout_s,
                    )
                    # A worker that keeps ending while the database answers (a bug, not an outage) is
                    # restarted more and more slowly rather than in a tight loop.
                    quick_restarts = quick_restarts + 1 if time.monotonic() - started < 60 else 0
                    if not reconnected or await stopped_within(stop, restart_delay(quick_restarts)):
                        break
        finally:
            manager.on_retry_conflict = None
            reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reaper
            await stop_relay(relay)
        log.info("worker.stopped")
