"""Retention of the job queue: finished jobs (with their events) and their recorded failures.

Why not Procrastinate's builtin `remove_old_jobs`: its query orders every event of every job
(`DISTINCT ON (job.id) ... ORDER BY event.at DESC`) on each run, compares against the database's
`NOW()` (so a test cannot run a week on an injected clock), keeps no separate age for failed jobs,
and leaves our `job_failures` rows behind. This prune finds ended jobs through a partial index on
their final event (migration 0008), deletes in bounded batches, and removes the failures of the jobs
it deletes in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, exists, literal_column, or_, select
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnClause

from walletsync.db.engine import Database
from walletsync.db.models import job_failures
from walletsync.jobs.tables import procrastinate_events, procrastinate_jobs

jobs = procrastinate_jobs
events = procrastinate_events

# The event types that end a job, as SQL literals: the partial index `ix_procrastinate_events_ended_at`
# has this predicate, and a bind parameter would hide it from generic plans.
ENDED_EVENTS: list[ColumnClause[Any]] = [
    literal_column(f"'{name}'") for name in ("succeeded", "failed", "cancelled", "aborted")
]
KEPT_BRIEFLY = ("succeeded", "cancelled", "aborted")

BATCH = 5000


@dataclass(frozen=True, slots=True)
class PruneReport:
    jobs: int
    failures: int

    def as_dict(self) -> dict[str, int]:
        return {"jobs": self.jobs, "failures": self.failures}


async def _delete_batch(
    db: Database, *, statuses: tuple[str, ...], ended_before: datetime
) -> tuple[int, int]:
    later = aliased(events)
    ended = (
        select(events.c.job_id)
        .where(
            and_(
                events.c.type.in_(ENDED_EVENTS),
                events.c.at < ended_before,
                # Its last event: a failed job retried by an operator has ended again later (or runs).
                ~exists().where(and_(later.c.job_id == events.c.job_id, later.c.at > events.c.at)),
            )
        )
        .limit(BATCH)
    )
    async with db.write() as conn:
        deleted = list(
            (
                await conn.execute(
                    delete(jobs)
                    .where(and_(jobs.c.id.in_(ended), jobs.c.status.in_(statuses)))
                    .returning(jobs.c.id)
                )
            ).scalars()
        )
        failures = 0
        if deleted:
            result = await conn.execute(delete(job_failures).where(job_failures.c.job_id.in_(deleted)))
            failures = result.rowcount
    return len(deleted), failures


async def prune_jobs(
    db: Database, *, now: datetime, retention: timedelta, failed_retention: timedelta
) -> PruneReport:
    """Delete jobs that ended more than `retention` ago (failed ones: `failed_retention`), and their failures.

    Jobs waiting or running are never touched. Failure rows older than `failed_retention` go too, even
    when their job is kept (a job retried again and again) or already gone (deleted by other means).
    """
    total_jobs = total_failures = 0
    for statuses, keep in ((KEPT_BRIEFLY, retention), (("failed",), failed_retention)):
        while True:
            deleted, failures = await _delete_batch(db, statuses=statuses, ended_before=now - keep)
            total_jobs += deleted
            total_failures += failures
            if deleted < BATCH:
                break
    async with db.write() as conn:
        orphaned = exists().where(jobs.c.id == job_failures.c.job_id)
        result = await conn.execute(
            delete(job_failures).where(
                or_(
                    job_failures.c.created_at < now - failed_retention,
                    and_(job_failures.c.created_at < now - retention, ~orphaned),
                )
            )
        )
        total_failures += result.rowcount
    return PruneReport(jobs=total_jobs, failures=total_failures)
