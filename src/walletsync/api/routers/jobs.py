"""`/v1/jobs`: background jobs (syncs, price updates, webhook deliveries): inspect, list, retry, cancel.

Job routes always need a key (even with `WALLETSYNC_PUBLIC_READS=true`): they show operational
errors. They read the primary, since clients poll a job right after deferring it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from walletsync.api.deps import (
    AdminAccess,
    KeyedReadAccess,
    Limit,
    StateDep,
    cursor_query,
    decode_cursor,
    encode_cursor,
)
from walletsync.api.errors import error_responses
from walletsync.api.schemas import JobOut, Page
from walletsync.jobs.api import JobInfo, get_job, list_jobs, retry_job
from walletsync.jobs.control import cancel_job

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

JobId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The job's id.")]
JobStatus = Literal["todo", "doing", "succeeded", "failed", "cancelled", "aborting", "aborted"]


ERROR_CHARS = 300


def public_error(error: str | None) -> str | None:
    """A job's error as the API shows it: its first line, at most 300 characters. The rest of what a
    database driver puts in an exception (`[SQL: ...]`, `[parameters: ...]`) is for operators, who
    read it with `walletsync jobs show`, not for every read key."""
    if error is None:
        return None
    line = error.strip().splitlines()[0] if error.strip() else ""
    line = line.split("[SQL:", 1)[0].rstrip()
    return line if len(line) <= ERROR_CHARS else line[: ERROR_CHARS - 1] + "…"


def job_out(job: JobInfo) -> JobOut:
    return JobOut(
        id=job.id,
        task_name=job.task_name,
        status=job.status,
        attempts=job.attempts,
        args=job.args,
        queue=job.queue,
        scheduled_at=job.scheduled_at,
        last_error=public_error(job.last_error),
        created_at=job.created_at,
    )


@router.get(
    "",
    response_model=Page[JobOut],
    responses=error_responses(401, 403, 413, 422, 429, 500),
    summary="List jobs",
)
async def list_all(
    state: StateDep,
    _: KeyedReadAccess,
    status: Annotated[JobStatus | None, Query(description="Only jobs in this status, e.g. `failed`.")] = None,
    limit: Limit = 100,
    cursor: Annotated[str | None, cursor_query("jobs", int)] = None,
) -> Page[JobOut]:
    """Jobs newest first."""
    below: int | None = None
    if cursor is not None:
        (below,) = decode_cursor(cursor, "jobs", int)
    async with state.db.primary.connect() as conn:
        jobs = await list_jobs(conn, status=status, after_id=below, limit=limit + 1)
    page, more = jobs[:limit], len(jobs) > limit
    return Page[JobOut](
        items=[job_out(j) for j in page], next_cursor=encode_cursor("jobs", [page[-1].id]) if more else None
    )


@router.get(
    "/{job_id}",
    response_model=JobOut,
    responses=error_responses(401, 403, 404, 413, 422, 429, 500),
    summary="A job",
)
async def show(job_id: JobId, state: StateDep, _: KeyedReadAccess) -> JobOut:
    """A job: status, attempts, arguments and its last error."""
    async with state.db.primary.connect() as conn:
        return job_out(await get_job(conn, job_id))


@router.post(
    "/{job_id}/retry",
    response_model=JobOut,
    responses=error_responses(401, 403, 404, 409, 413, 422, 429, 500),
    summary="Retry a failed job (admin)",
)
async def retry(job_id: JobId, state: StateDep, _: AdminAccess) -> JobOut:
    """Requeue a failed job to run now, with a fresh retry budget; 409 if it is not failed."""
    return job_out(await retry_job(state.db, job_id))


@router.post(
    "/{job_id}/cancel",
    response_model=JobOut,
    responses=error_responses(401, 403, 404, 409, 413, 422, 429, 500),
    summary="Cancel a waiting or running job (admin)",
)
async def cancel(
    job_id: JobId,
    state: StateDep,
    _: AdminAccess,
    force: Annotated[
        bool,
        Query(description="End a running job at once (for a job no live worker runs any more)."),
    ] = False,
) -> JobOut:
    """A waiting job is cancelled at once; a running one is asked to stop and ends `aborted` within
    seconds (`force=true` ends it `cancelled` at once and frees its wallet). 409 if it already ended."""
    return job_out(await cancel_job(state.db, job_id, force=force))
