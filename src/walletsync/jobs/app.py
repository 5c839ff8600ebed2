"""The Procrastinate app: one per process, opened on the walletsync database when a worker starts.

Tasks are declared on the module-level `app` at import (`walletsync.jobs.tasks`); the connection
pool is given when the app opens (`open_app`), so tests and commands point it at any database.
"""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import procrastinate
import structlog
from procrastinate import exceptions, manager

from walletsync.db.engine import libpq_url

log = structlog.get_logger(__name__)

OnRetryConflict = Callable[[int], Awaitable[int | None]]

SYNC_QUEUE = "sync"
MARKET_QUEUE = "market"
MAINTENANCE_QUEUE = "maintenance"
QUEUES = (SYNC_QUEUE, MARKET_QUEUE, MAINTENANCE_QUEUE)


class JobManager(manager.JobManager):
    """Procrastinate's job manager whose retry cannot leave a job stuck in `doing`.

    A retry that collides with the queueing lock of an identical waiting job (Procrastinate issues
    1446 and 1543; see `jobs.control`) calls `on_retry_conflict(job_id)` instead of raising, which
    ends the job as superseded and returns the waiting twin's id. Both the worker's own retry and the
    stalled-job reaper go through `retry_job_by_id_async`, so both are covered.
    """

    on_retry_conflict: OnRetryConflict | None = None

    async def retry_job_by_id_async(
        self,
        job_id: int,
        retry_at: datetime.datetime,
        priority: int | None = None,
        queue: str | None = None,
        lock: str | None = None,
    ) -> None:
        try:
            await super().retry_job_by_id_async(
                job_id=job_id, retry_at=retry_at, priority=priority, queue=queue, lock=lock
            )
            return
        except exceptions.UniqueViolation as exc:
            if exc.constraint_name != manager.QUEUEING_LOCK_CONSTRAINT or self.on_retry_conflict is None:
                raise
        twin = await self.on_retry_conflict(job_id)
        if twin is None:
            # The twin started (or was cancelled) between the two statements: nothing blocks a retry now.
            await super().retry_job_by_id_async(
                job_id=job_id, retry_at=retry_at, priority=priority, queue=queue, lock=lock
            )
            return
        log.warning("job.superseded", job_id=job_id, by_job_id=twin)


app = procrastinate.App(connector=procrastinate.PsycopgConnector())
app.job_manager = JobManager(connector=app.connector)


@asynccontextmanager
async def open_app(database_url: str, *, max_pool_size: int = 10) -> AsyncIterator[procrastinate.App]:
    """Open the app on `database_url` for the block (workers and the job CLI need it open)."""
    import walletsync.events.tasks  # registers the events tasks (relay_events, prune_events)
    import walletsync.jobs.tasks  # noqa: F401 - registers the tasks on `app`

    connector = procrastinate.PsycopgConnector(
        conninfo=libpq_url(database_url),
        min_size=1,
        max_size=max_pool_size,
        kwargs={"application_name": "walletsync-jobs"},
    )
    with app.replace_connector(connector):
        try:
            # Inside the try: a cancellation while the pool opens must still close it, or its
            # worker tasks (which outlive a cancellation by design) keep the event loop from ending.
            await app.open_async()
            yield app
        finally:
            await app.close_async()
