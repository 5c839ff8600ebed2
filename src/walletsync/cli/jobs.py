"""Job queue commands: `jobs list|failed|retry|retry-failed|cancel`."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from walletsync.cli.common import command_group, console, database_url, load, run_async, with_db

if TYPE_CHECKING:
    from walletsync.db.engine import Database
    from walletsync.jobs.api import JobInfo

jobs_app = command_group("Inspect and requeue background jobs.")


@jobs_app.command("list")
def jobs_list(
    status: Annotated[
        str | None, typer.Option(help="todo, doing, succeeded, failed, cancelled, aborted.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """List recent jobs, newest first."""
    _print_jobs(status, limit)


@jobs_app.command("failed")
def jobs_failed(limit: Annotated[int, typer.Option(min=1, max=1000)] = 50) -> None:
    """List failed jobs with their last error (the dead-letter list)."""
    _print_jobs("failed", limit)


def _print_jobs(status: str | None, limit: int) -> None:
    from walletsync.jobs.api import list_jobs

    settings = load()
    url = database_url(settings)

    async def body(db: Database) -> list[JobInfo]:
        async with db.read() as conn:
            return await list_jobs(conn, status=status, limit=limit)

    jobs = run_async(with_db(settings, url, body))
    table = Table(title=f"{len(jobs)} job(s)" + (f" with status {status}" if status else ""))
    for column in ("id", "task", "status", "attempts", "args", "scheduled", "last error"):
        table.add_column(column, overflow="fold")
    for job in jobs:
        table.add_row(
            str(job.id),
            job.task_name,
            job.status,
            str(job.attempts),
            json.dumps(job.args, sort_keys=True),
            job.scheduled_at.isoformat(timespec="seconds") if job.scheduled_at else "",
            job.last_error or "",
        )
    console.print(table)


@jobs_app.command("retry")
def jobs_retry(job_id: Annotated[int, typer.Argument(help="The failed job's id.")]) -> None:
    """Requeue one failed job (it gets a fresh set of attempts)."""
    from walletsync.jobs.api import retry_job

    settings = load()
    url = database_url(settings)
    job = run_async(with_db(settings, url, lambda db: retry_job(db, job_id)))
    console.print(f"job {job.id} ({job.task_name}) requeued: {job.status}")


@jobs_app.command("retry-failed")
def jobs_retry_failed(
    task: Annotated[str | None, typer.Option(help="Only jobs of this task (e.g. sync_wallet).")] = None,
) -> None:
    """Requeue every failed job."""
    from walletsync.jobs.api import retry_failed

    settings = load()
    url = database_url(settings)
    ids = run_async(with_db(settings, url, lambda db: retry_failed(db, task_name=task)))
    console.print(f"requeued {len(ids)} job(s)" + (f": {', '.join(map(str, ids))}" if ids else ""))


@jobs_app.command("cancel")
def jobs_cancel(
    job_id: Annotated[int, typer.Argument(help="The waiting or running job's id.")],
    force: Annotated[
        bool,
        typer.Option("--force", help="End a running job at once (when no live worker runs it any more)."),
    ] = False,
) -> None:
    """Cancel a waiting job; ask a running one to stop (it ends aborted within seconds)."""
    from walletsync.jobs.control import cancel_job

    settings = load()
    url = database_url(settings)
    job = run_async(with_db(settings, url, lambda db: cancel_job(db, job_id, force=force)))
    if job.status == "doing":
        console.print(f"job {job.id} ({job.task_name}): stop requested; its worker ends it within seconds")
    else:
        console.print(f"job {job.id} ({job.task_name}) {job.status}")
