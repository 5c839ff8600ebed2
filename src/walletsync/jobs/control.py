"""Ending jobs on purpose: superseding a job whose twin already waits, and operator cancellation.

Why this exists: Procrastinate's retry (`procrastinate_retry_job_v2`) moves a job back to `todo`, and
its queueing lock allows one `todo` job per lock. When a sync fails while a twin of it waits (someone
asked for a sync during the failing one), that UPDATE raises a unique violation inside the worker's
"persist the outcome" step: the worker logs it and moves on, the job stays `doing` for good and holds
the wallet's lock, so the twin never runs either (Procrastinate issues 1446 and 1543). The worker's
job manager (`jobs.app`) catches that conflict and calls `supersede` instead: the failing job ends
`cancelled` with the reason recorded, the waiting twin does the same work from the same cursor.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import and_, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from walletsync.db.engine import Database
from walletsync.db.models import job_failures
from walletsync.errors import ConflictError
from walletsync.jobs.api import JobInfo, get_job
from walletsync.jobs.tables import procrastinate_events, procrastinate_jobs

jobs = procrastinate_jobs

SUPERSEDED = "Superseded"
"""Prefix of the recorded reason of a job that ended because an identical job takes over."""


class JobNotCancellableError(ConflictError):
    title = "Job cannot be cancelled"


async def _end_as_cancelled(conn: AsyncConnection, job_id: int, *, reason: str, from_status: str) -> bool:
    """Move one job from `from_status` to `cancelled`, with an event row and the reason; False if it moved on."""
    row = (
        await conn.execute(
            update(jobs)
            .where(and_(jobs.c.id == job_id, jobs.c.status == from_status))
            .values(status="cancelled", abort_requested=False, attempts=jobs.c.attempts + 1)
            .returning(jobs.c.task_name, jobs.c.attempts)
        )
    ).first()
    if row is None:
        return False
    if from_status == "doing":
        # Procrastinate's status trigger records no event for doing -> cancelled (it does for todo);
        # retention and the job's history read the time it ended from this row.
        await conn.execute(
            insert(procrastinate_events).values(job_id=job_id, type="cancelled", at=datetime.now(UTC))
        )
    await conn.execute(
        insert(job_failures).values(
            job_id=job_id, task_name=row.task_name, attempt=row.attempts, error=reason
        )
    )
    return True


async def waiting_twin(conn: AsyncConnection, job_id: int) -> int | None:
    """The id of the `todo` job holding this job's queueing lock, if any."""
    own_lock = select(jobs.c.queueing_lock).where(jobs.c.id == job_id).scalar_subquery()
    twin = await conn.scalar(
        select(jobs.c.id).where(
            and_(jobs.c.queueing_lock == own_lock, jobs.c.status == "todo", jobs.c.id != job_id)
        )
    )
    return None if twin is None else int(twin)


async def supersede(db: Database, job_id: int, *, why: str) -> int | None:
    """End a `doing` job as cancelled because an identical job waits; return that twin's id.

    Returns None (and changes nothing) when no twin waits any more or the job is no longer `doing`:
    the caller then retries the job normally.
    """
    async with db.write() as conn:
        twin = await waiting_twin(conn, job_id)
        if twin is None:
            return None
        reason = f"{SUPERSEDED}: {why}; job {twin}, identical and already waiting, takes over"
        if not await _end_as_cancelled(conn, job_id, reason=reason, from_status="doing"):
            return None
        return twin


async def cancel_job(db: Database, job_id: int, *, force: bool = False) -> JobInfo:
    """Cancel a job: a waiting one at once; a running one is asked to stop (it ends `aborted`).

    `force` ends a `doing` job as cancelled at once, for a job no live worker runs any more (its
    lock is released so a waiting twin can start). Finished jobs cannot be cancelled.
    """
    async with db.write() as conn:
        job = await get_job(conn, job_id)
        reason = f"Cancelled by an operator (was {job.status})"
        if job.status == "todo":
            await _end_as_cancelled(conn, job_id, reason=reason, from_status="todo")
        elif job.status == "doing" and force:
            await _end_as_cancelled(conn, job_id, reason=reason, from_status="doing")
        elif job.status == "doing":
            # The worker polls abort requests and cancels the task; Procrastinate then marks it aborted.
            await conn.execute(
                update(jobs)
                .where(and_(jobs.c.id == job_id, jobs.c.status == "doing"))
                .values(abort_requested=True)
            )
        else:
            raise JobNotCancellableError(
                f"job {job_id} is {job.status}; only todo and doing jobs can be cancelled"
            )
        return await get_job(conn, job_id)
