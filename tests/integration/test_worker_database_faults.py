"""Workers survive PostgreSQL restarts, and exit non-zero when the database stays away.

A throwaway PostgreSQL (`tests/pgcluster.py`) is restarted and killed under a `walletsync worker`
subprocess; the machine's own server is never touched.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.pgcluster import PgCluster, free_port, pg_cluster_factory  # noqa: F401 - the fixture
from tests.support import clean_env, start_walletsync
from walletsync.db import migrate


def _env(url: str, **extra: str) -> dict[str, str]:
    return clean_env(
        DATABASE_URL=url,
        WALLETSYNC_AUTO_MIGRATE="false",
        WALLETSYNC_WORKER_HEARTBEAT_INTERVAL="0.5",
        WALLETSYNC_WORKER_STALLED_AFTER="3",
        WALLETSYNC_LOG_LEVEL="WARNING",
        **extra,
    )


def _defer_prune(url: str) -> int:
    """Queue a job that needs no provider (the job prune) straight into the queue table."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "INSERT INTO procrastinate_jobs (queue_name, task_name, args) "
            "VALUES ('maintenance', 'prune_jobs', '{}') RETURNING id"
        ).fetchone()
    assert row is not None
    return int(row[0])


def _status(url: str, job_id: int) -> str | None:
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=2) as conn:
            row = conn.execute("SELECT status FROM procrastinate_jobs WHERE id = %s", (job_id,)).fetchone()
    except psycopg.OperationalError:
        return None
    return None if row is None else str(row[0])


def _wait_status(url: str, job_id: int, status: str, proc: subprocess.Popen[str], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while _status(url, job_id) != status:
        if proc.poll() is not None:
            raise AssertionError(f"the worker exited with {proc.returncode} before job {job_id} was {status}")
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} is {_status(url, job_id)}, not {status}, after {timeout_s} s")
        time.sleep(0.1)  # polling another process; the outcome is asserted


@pytest.fixture
def cluster(pg_cluster_factory: Callable[..., PgCluster]) -> PgCluster:  # noqa: F811
    return pg_cluster_factory()


@pytest.fixture
def worker_procs() -> Iterator[list[subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


@pytest.mark.slow
def test_worker_keeps_working_after_postgres_restart_and_kill(
    cluster: PgCluster, worker_procs: list[subprocess.Popen[str]], tmp_path: Path
) -> None:
    """`pg_ctl restart -m fast`, then kill -9 of the postmaster: the worker reconnects and runs new jobs."""
    url = cluster.create_database("walletsync")
    migrate.upgrade(url)
    proc = start_walletsync(
        "worker", env=_env(url), cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    worker_procs.append(proc)
    _wait_status(url, _defer_prune(url), "succeeded", proc, timeout_s=60)

    cluster.primary.restart()
    time.sleep(2)  # without the fix the worker has exited 0 by now (it took 1.4 s)
    assert proc.poll() is None, f"worker exited with {proc.returncode} after a restart"
    _wait_status(url, _defer_prune(url), "succeeded", proc, timeout_s=60)

    cluster.primary.kill()
    cluster.primary.start()
    _wait_status(url, _defer_prune(url), "succeeded", proc, timeout_s=60)
    assert proc.poll() is None


@pytest.mark.slow
def test_worker_exits_75_with_one_line_when_postgres_stays_down(
    cluster: PgCluster, worker_procs: list[subprocess.Popen[str]], tmp_path: Path
) -> None:
    """Down for longer than WALLETSYNC_WORKER_RECONNECT_TIMEOUT: exit 75 (a supervisor restarts it)."""
    url = cluster.create_database("walletsync")
    migrate.upgrade(url)
    proc = start_walletsync(
        "worker",
        env=_env(url, WALLETSYNC_WORKER_RECONNECT_TIMEOUT="3"),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    worker_procs.append(proc)
    _wait_status(url, _defer_prune(url), "succeeded", proc, timeout_s=60)
    cluster.primary.stop()
    try:
        _, stderr = proc.communicate(timeout=90)
    finally:
        cluster.primary.start()
    assert proc.returncode == 75
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("error: PostgreSQL unreachable for ")
    assert "(WALLETSYNC_WORKER_RECONNECT_TIMEOUT)" in last
    assert "Traceback" not in stderr


@pytest.mark.slow
def test_serve_exits_with_its_worker_when_postgres_stays_down(
    cluster: PgCluster, worker_procs: list[subprocess.Popen[str]], tmp_path: Path
) -> None:
    """Under `serve`, a worker that gives up takes the API with it: exit 75, not a silent half-process."""
    url = cluster.create_database("walletsync")
    migrate.upgrade(url)
    port = free_port()
    proc = start_walletsync(
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        env=_env(url, WALLETSYNC_WORKER_RECONNECT_TIMEOUT="3"),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    worker_procs.append(proc)
    _wait_status(url, _defer_prune(url), "succeeded", proc, timeout_s=60)
    assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
    cluster.primary.stop()
    try:
        _, stderr = proc.communicate(timeout=90)
    finally:
        cluster.primary.start()
    assert proc.returncode == 75
    assert stderr.strip().splitlines()[-1].startswith("error: PostgreSQL unreachable for ")
