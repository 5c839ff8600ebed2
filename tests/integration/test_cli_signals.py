"""SIGTERM and SIGHUP stop every long-running command cleanly, and the embedded PostgreSQL with it.

Each test runs walletsync on its own embedded data directory (DATABASE_URL unset), waits until the
command serves, signals it, and checks that the command exited 0 and that the postmaster it started
is gone. Before the fix, SIGTERM left PostgreSQL running with the dead PID in its handle list.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pgcluster import free_port, pid_alive
from tests.support import clean_env, run_walletsync, start_walletsync

START_TIMEOUT_S = 180


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """An embedded data directory outside pytest's tmp tree.

    As root the wheel runs PostgreSQL as `pgserver` and opens traverse permission on the data dir's
    parents; another pytest session starting on this machine resets `/tmp/pytest-of-root` to 0700,
    which would make initdb fail half-way through a test here.
    """
    path = Path(tempfile.mkdtemp(prefix="walletsync-signals-"))
    yield path
    for pid_file in path.glob("pg*/postmaster.pid"):  # a failed test must not leak its server
        with contextlib.suppress(OSError, ValueError, IndexError):
            os.kill(int(pid_file.read_text().split()[0]), signal.SIGTERM)
    shutil.rmtree(path, ignore_errors=True)


def _pgdata(data_dir: Path) -> Path:
    found = sorted(data_dir.glob("pg*/PG_VERSION"))
    assert found, f"no embedded server in {data_dir}"
    return found[0].parent


def _postmaster(data_dir: Path) -> int:
    return int((_pgdata(data_dir) / "postmaster.pid").read_text().split()[0])


def _wait_port(port: int, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.3)
    proc.kill()
    pytest.fail(f"not serving on {port} after {START_TIMEOUT_S} s: {proc.communicate()[1][-3000:]}")


def _wait_gone(pid: int, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.2)
    return False


def _start(args: list[str], data_dir: Path) -> subprocess.Popen[str]:
    return start_walletsync(
        *args,
        cwd=data_dir,
        env=clean_env(WALLETSYNC_DATA_DIR=str(data_dir), COLUMNS="200"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize(
    ("command", "signum"),
    [
        ("api", signal.SIGTERM),
        ("api", signal.SIGHUP),
        ("serve", signal.SIGTERM),
        ("serve", signal.SIGHUP),
        ("demo", signal.SIGTERM),  # SIGHUP takes the same path; the demo's sync phase is the slow one
        ("worker", signal.SIGTERM),
        ("worker", signal.SIGHUP),
    ],
    ids=lambda v: v.name if isinstance(v, signal.Signals) else str(v),
)
def test_signal_stops_command_and_embedded_postgres(command: str, signum: int, data_dir: Path) -> None:
    """api / serve / demo / worker under SIGTERM or SIGHUP: exit 0, no postgres process left."""
    port = free_port()
    args = [command] if command == "worker" else [command, "--port", str(port)]
    if command == "worker":
        args += ["--metrics-port", str(port)]  # something to wait for: the worker has no API
    proc = _start(args, data_dir)
    try:
        _wait_port(port, proc)
        postmaster = _postmaster(data_dir)
        assert pid_alive(postmaster)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err[-3000:]
    assert "Traceback" not in err
    assert _wait_gone(postmaster), f"postgres {postmaster} still running after {command} got {signum}"
    assert json.loads((_pgdata(data_dir) / ".handle_pids.json").read_text()) == []


def test_dead_handle_is_dropped_at_the_next_start(data_dir: Path) -> None:
    """A process killed with SIGKILL leaves its PID in the handle list; the next command drops it, so
    the server stops when that command ends instead of running forever."""
    port = free_port()
    proc = _start(["api", "--port", str(port)], data_dir)
    try:
        _wait_port(port, proc)
        postmaster = _postmaster(data_dir)
    finally:
        proc.kill()  # no handler runs: the PID stays in the list and postgres keeps running
        proc.wait()
    assert pid_alive(postmaster)
    assert json.loads((_pgdata(data_dir) / ".handle_pids.json").read_text()) == [proc.pid]

    listed = run_walletsync("wallets", "list", cwd=data_dir, WALLETSYNC_DATA_DIR=str(data_dir))
    assert listed.returncode == 0, listed.stderr
    assert _wait_gone(postmaster), "the embedded server outlived its last live user"
    assert json.loads((_pgdata(data_dir) / ".handle_pids.json").read_text()) == []
