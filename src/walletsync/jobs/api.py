"""Job queries and operations for the CLI and the API: defer, inspect, list, retry.

Jobs are deferred by inserting into Procrastinate's job table on the caller's own connection (what
`procrastinate_defer_jobs_v1` does), so a job commits or rolls back with the write that asked for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, func, literal_column, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from walletsync.db.engine import Database
from walletsync.db.models import job_failures
from walletsync.errors import ConflictError, InvalidInputError, NotFoundError
from walletsync.jobs.app import SYNC_QUEUE
from walletsync.jobs.tables import JOB_STATUSES, procrastinate_events, procrastinate_jobs
from walletsync.wallets.repository import get_wallet

jobs = procrastinate_jobs

# The predicate of Procrastinate's partial unique index on `queueing_lock` (`WHERE status = 'todo'`),
# written into the SQL text. As a bind parameter it breaks ON CONFLICT from the 6th execution of the
# prepared statement on one connection: PostgreSQL's generic plan cannot prove a `$n` implies the
# index predicate, so no arbiter index is found ("no unique or exclusion constraint matching").
WAITING = jobs.c.status == literal_column("'todo'")


class JobNotFoundError(NotFoundError):
    title = "Job not found"


class JobNotRetryableError(ConflictError):
    title = "Job cannot be retried"


@dataclass(frozen=True, slots=True)
class JobInfo:
    id: int
    task_name: str
    status: str
    queue: str
    attempts: int
    args: dict[str, Any]
    scheduled_at: datetime | None
    created_at: datetime | None
    last_error: str | None


def sync_locks(wallet_id: int) -> tuple[str, str]:
    """(lock, queueing lock): one running and at most one waiting sync per wallet."""
    return f"wallet-{wallet_id}", f"sync-wallet-{wallet_id}"


async def defer_sync(conn: AsyncConnection, wallet_id: int) -> int:
    """Queue a sync of the wallet (commits with the caller's transaction); return the job id.

    When a sync of this wallet is already waiting, its id is returned and nothing is added.
    """
    await get_wallet(conn, wallet_id)
    lock, queueing_lock = sync_locks(wallet_id)
    inserted = await conn.scalar(
        pg_insert(jobs)
        .values(
            queue_name=SYNC_QUEUE,
            task_name="sync_wallet",
            priority=0,
            lock=lock,
            queueing_lock=queueing_lock,
            args={"wallet_id": wallet_id},
            status="todo",
            attempts=0,
            abort_requested=False,
        )
        .on_conflict_do_nothing(index_elements=["queueing_lock"], index_where=WAITING)
        .returning(jobs.c.id)
    )
    if inserted is not None:
        return int(inserted)
    existing = await conn.scalar(
        select(jobs.c.id).where(and_(jobs.c.queueing_lock == queueing_lock, WAITING))
    )
    if existing is None:  # it started between our insert and this read: queue another
        return await defer_sync(conn, wallet_id)
    return int(existing)


def _job_query() -> Any:
    last_error = (
        select(job_failures.c.error)
        .where(job_failures.c.job_id == jobs.c.id)
        .order_by(job_failures.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    created = (
        select(func.min(procrastinate_events.c.at))
        .where(procrastinate_events.c.job_id == jobs.c.id)
        .scalar_subquery()
    )
    return select(
        jobs.c.id,
        jobs.c.task_name,
        jobs.c.status,
        jobs.c.queue_name,
        jobs.c.attempts,
        jobs.c.args,
        jobs.c.scheduled_at,
        created.label("created_at"),
        last_error.label("last_error"),
    )


def _info(row: Any) -> JobInfo:
    return JobInfo(
        id=row.id,
        task_name=row.task_name,
        status=str(row.status),
        queue=row.queue_name,
        attempts=row.attempts,
        args=dict(row.args or {}),
        scheduled_at=row.scheduled_at,
        created_at=row.created_at,
        last_error=row.last_error,
    )


async def get_job(conn: AsyncConnection, job_id: int) -> JobInfo:
    row = (await conn.execute(_job_query().where(jobs.c.id == job_id))).first()
    if row is None:
        raise JobNotFoundError(f"no job with id {job_id}")
    return _info(row)


async def list_jobs(
    conn: AsyncConnection, *, status: str | None = None, after_id: int | None = None, limit: int = 100
) -> list[JobInfo]:
    """Jobs newest first (by id), keyset-paginated below `after_id`."""
    if status is not None and status not in JOB_STATUSES:
        raise InvalidInputError(f"unknown job status {status!r} (expected one of {', '.join(JOB_STATUSES)})")
    query = _job_query().order_by(jobs.c.id.desc()).limit(limit)
    if status is not None:
        query = query.where(jobs.c.status == status)
    if after_id is not None:
        query = query.where(jobs.c.id < after_id)
    return [_info(row) for row in await conn.execute(query)]


async def _requeue(conn: AsyncConnection, job_id: int) -> bool:
    """Requeue one failed job with a fresh retry budget; False when a twin is already waiting."""
    try:
        async with conn.begin_nested():
            await conn.execute(
                select(func.procrastinate_retry_job_v2(job_id, datetime.now(UTC), None, None, None))
            )
            await conn.execute(update(jobs).where(jobs.c.id == job_id).values(attempts=0))
    except IntegrityError:
        return False  # the queueing lock: the same wallet already has a sync waiting
    return True


async def retry_job(db: Database, job_id: int) -> JobInfo:
    """Requeue a failed job to run now, keeping its id; it gets WALLETSYNC_JOB_MAX_ATTEMPTS attempts again."""
    async with db.write() as conn:
        job = await get_job(conn, job_id)
        if job.status != "failed":
            raise JobNotRetryableError(f"job {job_id} is {job.status}; only failed jobs can be retried")
        if not await _requeue(conn, job_id):
            raise JobNotRetryableError(f"job {job_id} was not requeued: an identical job is already waiting")
        return await get_job(conn, job_id)


async def retry_failed(db: Database, *, task_name: str | None = None) -> list[int]:
    """Requeue every failed job (optionally of one task) that has no identical job waiting; return ids."""
    async with db.write() as conn:
        query = select(jobs.c.id).where(jobs.c.status == "failed").order_by(jobs.c.id.desc())
        if task_name is not None:
            query = query.where(jobs.c.task_name == task_name)
        requeued: list[int] = []
        for job_id in (await conn.execute(query)).scalars().all():
            if await _requeue(conn, int(job_id)):
                requeued.append(int(job_id))
        return sorted(requeued)


async def queue_depth(conn: AsyncConnection) -> dict[str, int]:
    """Number of jobs per status (every status present, zero when none)."""
    rows = await conn.execute(select(jobs.c.status, func.count()).group_by(jobs.c.status))
    counts = dict.fromkeys(JOB_STATUSES, 0)
    counts.update({str(status): int(count) for status, count in rows})
    return counts
