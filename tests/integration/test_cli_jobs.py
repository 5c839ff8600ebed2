"""`walletsync jobs cancel` as a subprocess against a real database."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import insert, select

from tests.integration.test_cli import cli
from walletsync.db.engine import Database
from walletsync.jobs.tables import procrastinate_jobs


async def _job(db: Database, status: str) -> int:
    async with db.write() as conn:
        job_id = await conn.scalar(
            insert(procrastinate_jobs)
            .values(
                queue_name="sync",
                task_name="sync_wallet",
                priority=0,
                lock="wallet-7",
                queueing_lock="sync-wallet-7",
                args={"wallet_id": 7},
                status=status,
                attempts=0,
                abort_requested=False,
            )
            .returning(procrastinate_jobs.c.id)
        )
    return int(job_id)


async def test_jobs_cancel(db: Database, database_url: str, tmp_path: Path) -> None:
    """A running job is asked to stop, `--force` ends it; an ended job exits 4 with one line."""
    job_id = await _job(db, "doing")
    asked = cli(database_url, tmp_path, "jobs", "cancel", str(job_id))
    assert asked.returncode == 0, asked.stderr
    assert f"job {job_id} (sync_wallet): stop requested" in asked.stdout

    forced = cli(database_url, tmp_path, "jobs", "cancel", "--force", str(job_id))
    assert forced.returncode == 0, forced.stderr
    assert f"job {job_id} (sync_wallet) cancelled" in forced.stdout
    async with db.read() as conn:
        status = await conn.scalar(
            select(procrastinate_jobs.c.status).where(procrastinate_jobs.c.id == job_id)
        )
    assert status == "cancelled"

    again = cli(database_url, tmp_path, "jobs", "cancel", str(job_id))
    assert again.returncode == 4
    assert again.stderr.strip() == (
        f"error: job {job_id} is cancelled; only todo and doing jobs can be cancelled"
    )
    unknown = cli(database_url, tmp_path, "jobs", "cancel", "999999")
    assert unknown.returncode == 3
    assert unknown.stderr.strip() == "error: no job with id 999999"
