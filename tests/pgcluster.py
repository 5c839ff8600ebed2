"""Throwaway PostgreSQL servers for tests that stop, kill, lag or restart a database.

The machine's own PostgreSQL is never touched: each `PgCluster` runs a fresh primary (and, on
request, a streaming replica made with `pg_basebackup -R`) from the Debian binaries in
`/usr/lib/postgresql/<version>/bin`, in a temporary directory, on free 127.0.0.1 ports.

Hand-written rather than a library because no maintained Python package drives a *replica* and
*replay pause* with the distribution's binaries (pytest-postgresql and testing.postgresql start a
single server only), and the fault tests need kill -9 of the postmaster, which we do ourselves.

`initdb` and `postgres` refuse to run as root (CI and this machine run tests as root), so every
server command runs as the `postgres` user through `runuser`; as any other user it runs directly.

API (synchronous; call it from async tests freely, every step takes well under a second or two)::

    with PgCluster.start(replica=True) as cluster:
        cluster.primary.url()              # postgresql://postgres@127.0.0.1:<port>/postgres
        cluster.replica.url("postgres")    # the hot standby, streaming from the primary
        cluster.pause_replay()             # the replica stops applying WAL: it lags at will
        cluster.resume_replay()
        cluster.wait_replayed()            # until the replica has applied the primary's WAL
        cluster.primary.restart()          # as pg_ctl restart -m fast
        cluster.primary.kill()             # SIGKILL the postmaster (and wait for its children)
        cluster.primary.start()            # crash recovery, same port
        cluster.create_database("app")     # a database on the primary; URL returned
    # leaving the block stops every server and removes the directory, also when a test failed

Pytest fixtures (import them in a conftest or test module):

- `pg_cluster`: one session-wide primary + replica. Do not kill or restart it; pause replay only
  inside a `try/finally` that resumes it.
- `pg_cluster_factory`: `pg_cluster_factory(replica=False)` builds a cluster owned by the calling
  test, stopped and removed when the test ends; use it for restarts and kills.

`WALLETSYNC_TEST_PG_BIN` picks another binary directory; without one the newest installed version
is used. Every cluster is also stopped at interpreter exit, as a last resort against leaks.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest

PG_USER = "postgres"
START_TIMEOUT_S = 60.0
_LIVE: set[PgCluster] = set()

# Fast and small: tests need durability against a killed process, not against power loss.
_SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "full_page_writes": "off",
    "shared_buffers": "32MB",
    "max_connections": "60",
    "wal_level": "replica",
    "max_wal_senders": "5",
    "hot_standby": "on",
    "hot_standby_feedback": "on",
    "log_min_messages": "warning",
}


class PgClusterError(RuntimeError):
    """A server of the cluster failed to start, stop or answer; the message quotes its log."""


def find_bin_dir(version: int | None = None) -> Path:
    """The binaries of PostgreSQL `version` (default: `WALLETSYNC_TEST_PG_BIN`, else the newest)."""
    if version is None and (env := os.environ.get("WALLETSYNC_TEST_PG_BIN")):
        return Path(env)
    root = Path("/usr/lib/postgresql")
    found = sorted(
        (int(p.name), p / "bin")
        for p in root.glob("*")
        if p.name.isdigit() and (p / "bin" / "initdb").exists()
    )
    if version is not None:
        found = [item for item in found if item[0] == version]
    if not found:
        wanted = f"PostgreSQL {version}" if version else "PostgreSQL"
        raise PgClusterError(f"{wanted} server binaries not found under {root} (apt-get install postgresql)")
    return found[-1][1]


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _as_server_user(argv: list[str]) -> list[str]:
    return ["runuser", "-u", PG_USER, "--", *argv] if os.geteuid() == 0 else argv


def _run(argv: list[str], *, timeout: float = START_TIMEOUT_S) -> None:
    done = subprocess.run(_as_server_user(argv), capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise PgClusterError(
            f"{Path(argv[0]).name} failed ({done.returncode}): {done.stderr.strip()[-2000:]}"
        )


def child_pids(pid: int) -> list[int]:
    """Direct children of `pid` (the backends and auxiliary processes of a postmaster), from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            # Field 4 is the parent pid; the command name (field 2) may contain spaces, so split after it.
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie child of ours counts as gone (never ours here: pg_ctl daemonizes the postmaster).
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


def _wait_gone(pids: list[int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    while (left := [p for p in pids if pid_alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


@dataclass(eq=False)
class PgNode:
    """One PostgreSQL server (primary or standby) of a `PgCluster`."""

    name: str
    data_dir: Path
    port: int
    bin_dir: Path
    socket_dir: Path
    settings: dict[str, str] = field(default_factory=dict)  # on top of _SERVER_SETTINGS
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def log_file(self) -> Path:
        return self.data_dir.parent / f"{self.name}.log"

    def url(self, database: str = "postgres") -> str:
        """A libpq URL (`postgresql://`) of this server; pass it through `async_url` for asyncpg."""
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/{database}"

    @property
    def pid(self) -> int | None:
        """The postmaster's pid while it runs, else None."""
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if pid_alive(pid) else None

    @property
    def running(self) -> bool:
        return self.pid is not None

    def _pg_ctl(self, *args: str, timeout: float = START_TIMEOUT_S) -> None:
        _run([str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), *args], timeout=timeout)

    def _options(self) -> list[str]:
        settings = {
            **_SERVER_SETTINGS,
            **self.settings,
            "port": str(self.port),
            "unix_socket_directories": str(self.socket_dir),
        }
        return [arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")]

    def start(self) -> None:
        """Start the server (after a kill this runs crash recovery) and wait until it accepts queries.

        The postmaster is our own child (not daemonized by `pg_ctl start`), so once killed it is
        reaped here: a dead postmaster left as a zombie would make the next start refuse to run.
        """
        if self.running:
            return
        pid_file = self.data_dir / "postmaster.pid"
        if pid_file.exists():  # left by a killed server whose pid is gone: safe to remove
            pid_file.unlink()
        with self.log_file.open("ab") as log:
            argv = _as_server_user(
                [str(self.bin_dir / "postgres"), "-D", str(self.data_dir), *self._options()]
            )
            self._proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.wait_ready()

    def wait_ready(self, timeout: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self._proc is not None and self._proc.poll() is not None:
                raise PgClusterError(f"{self.name} exited ({self._proc.returncode}):\n{self.log_tail()}")
            try:
                with psycopg.connect(self.url(), connect_timeout=2, autocommit=True) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise PgClusterError(
                        f"{self.name} not ready after {timeout}s: {exc}\n{self.log_tail()}"
                    ) from None
                time.sleep(0.1)

    def restart(self) -> None:
        """`pg_ctl restart -m fast`, done as stop + start: clients are cut off, same port after."""
        self.stop("fast")
        self.start()

    def kill(self) -> None:
        """SIGKILL the postmaster, as an OOM killer would, and wait until its children have exited.

        The children notice the dead postmaster on their own; waiting for them matters because a
        backend still attached to the shared memory makes the next `start()` refuse to run.
        """
        pid = self.pid
        if pid is None:
            self._reap()
            return
        children = child_pids(pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        self._reap()
        if left := _wait_gone([pid, *children], timeout=10):
            for child in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child, signal.SIGKILL)
            _wait_gone(left, timeout=5)

    def _reap(self) -> None:
        if self._proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=10)
            self._proc = None

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (`fast`, or `immediate`); falls back to SIGKILL so nothing outlives a test."""
        if not self.running:
            self._reap()
            return
        try:
            self._pg_ctl("stop", "-m", mode, "-w", "-t", "30", timeout=40)
        except (PgClusterError, subprocess.TimeoutExpired):
            self.kill()
        self._reap()

    def execute(self, sql: str, database: str = "postgres") -> list[tuple[Any, ...]]:
        """Run one statement in autocommit (test set-up and checks only) and return its rows."""
        with psycopg.connect(self.url(database), autocommit=True, connect_timeout=5) as conn:
            cur = conn.execute(sql.encode())
            return cur.fetchall() if cur.description else []

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


@dataclass(eq=False)
class PgCluster:
    """A primary and an optional streaming replica in one temporary directory; see the module doc."""

    root: Path
    primary: PgNode
    replica: PgNode | None = None
    _closed: bool = field(default=False, repr=False)

    @classmethod
    def start(
        cls,
        *,
        replica: bool = False,
        version: int | None = None,
        bin_dir: Path | None = None,
        settings: dict[str, str] | None = None,
    ) -> PgCluster:
        """initdb + start a primary (and `add_replica()` when asked); cleaned up if any step fails.

        `bin_dir` runs other binaries than Debian's (e.g. the embedded wheel's PostgreSQL 16);
        `settings` adds or overrides server settings (e.g. `{"max_connections": "200"}`).
        """
        bin_dir = bin_dir or find_bin_dir(version)
        root = Path(tempfile.mkdtemp(prefix="walletsync-pgcluster-"))
        if os.geteuid() == 0:
            # The server user must own its directory; /tmp itself is world-traversable.
            entry = pwd.getpwnam(PG_USER)
            os.chown(root, entry.pw_uid, entry.pw_gid)
        node = PgNode("primary", root / "primary", free_port(), bin_dir, root, dict(settings or {}))
        cluster = cls(root=root, primary=node)
        _LIVE.add(cluster)
        try:
            _run([str(bin_dir / "initdb"), "-D", str(node.data_dir), "-U", PG_USER, "--auth=trust", "-E", "UTF8",
                  "--locale=C.UTF-8", "--no-sync"])  # fmt: skip
            node.start()
            if replica:
                cluster.add_replica()
        except BaseException:
            cluster.close()
            raise
        return cluster

    def add_replica(self) -> PgNode:
        """`pg_basebackup -R -X stream` from the primary, started as a hot standby on its own port."""
        if self.replica is not None:
            return self.replica
        node = PgNode(
            "replica",
            self.root / "replica",
            free_port(),
            self.primary.bin_dir,
            self.root,
            dict(self.primary.settings),
        )
        _run([str(node.bin_dir / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(self.primary.port), "-U", PG_USER,
              "-D", str(node.data_dir), "-R", "-X", "stream", "-c", "fast", "--no-sync"])  # fmt: skip
        self.replica = node
        node.start()
        self.wait_replayed()
        return node

    def _standby(self) -> PgNode:
        if self.replica is None:
            raise PgClusterError("this cluster has no replica: PgCluster.start(replica=True)")
        return self.replica

    def pause_replay(self) -> None:
        """The replica keeps receiving WAL but stops applying it: reads there go stale until resumed."""
        self._standby().execute("SELECT pg_wal_replay_pause()")

    def resume_replay(self) -> None:
        self._standby().execute("SELECT pg_wal_replay_resume()")

    def primary_lsn(self) -> str:
        return str(self.primary.execute("SELECT pg_current_wal_lsn()")[0][0])

    def replay_lsn(self) -> str:
        return str(self._standby().execute("SELECT pg_last_wal_replay_lsn()")[0][0])

    def wait_replayed(self, lsn: str | None = None, timeout: float = 30.0) -> None:
        """Block until the replica has applied WAL up to `lsn` (default: the primary's current)."""
        target = lsn or self.primary_lsn()
        standby = self._standby()
        deadline = time.monotonic() + timeout
        query = f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn"  # target is a pg_lsn we read
        while not standby.execute(query)[0][0]:
            if time.monotonic() > deadline:
                raise PgClusterError(f"replica did not replay up to {target} within {timeout}s")
            time.sleep(0.05)

    def create_database(self, name: str) -> str:
        """CREATE DATABASE on the primary (the replica follows); returns its libpq URL."""
        if not name.replace("_", "").isalnum():
            raise ValueError(f"database name must be alphanumeric or _: {name!r}")
        self.primary.execute(f'CREATE DATABASE "{name}"')
        return self.primary.url(name)

    def close(self) -> None:
        """Stop every server (immediately: the data is thrown away) and remove the directory."""
        if self._closed:
            return
        self._closed = True
        for node in (self.replica, self.primary):
            if node is not None:
                node.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)
        _LIVE.discard(self)

    def __enter__(self) -> PgCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@atexit.register
def _close_leftovers() -> None:
    for cluster in list(_LIVE):
        cluster.close()


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """A session-wide primary with a streaming replica (shared: never kill or restart it)."""
    with PgCluster.start(replica=True) as cluster:
        yield cluster


@pytest.fixture
def pg_cluster_factory() -> Iterator[Callable[..., PgCluster]]:
    """Build clusters owned by one test (`factory(replica=True)`); all stopped when it ends."""
    made: list[PgCluster] = []

    def factory(
        *, replica: bool = False, version: int | None = None, bin_dir: Path | None = None
    ) -> PgCluster:
        cluster = PgCluster.start(replica=replica, version=version, bin_dir=bin_dir)
        made.append(cluster)
        return cluster

    yield factory
    for cluster in made:
        cluster.close()
