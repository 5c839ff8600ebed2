"""A throwaway PgBouncer in transaction mode in front of a test PostgreSQL, for the pooling tests.

Debian's `pgbouncer` binary (`.ci/run` installs it), on a free 127.0.0.1 port, with a config in a
temporary directory; it refuses to run as root, so as root it runs as the `postgres` user. It is a
child process of the tests (its own process group), stopped and its directory removed when the
fixture ends, also when a test failed.

Set up to expose any reliance on session state: `server_reset_query` is empty (nothing is reset
between clients), the pool is small, so clients share server connections, and server connections
are never closed for age or idleness during a test. `PgBouncer.session_state()` then reports what a
server connection carries over from one client to the next (session SETs, prepared statements,
advisory locks, LISTEN channels, temporary tables, held cursors).

    bouncer = PgBouncer.start("127.0.0.1", 5432, pool_size=1)
    bouncer.url("mydb")            # postgresql://postgres@127.0.0.1:<port>/mydb, transaction pooled
    bouncer.show("SERVERS")        # PgBouncer's admin console, as a list of dicts
    bouncer.stop()
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.pgcluster import PG_USER, free_port

# Parameters PgBouncer itself tracks per client and sets on the server (with SET) when clients differ.
PGBOUNCER_TRACKED = {
    "client_encoding",
    "datestyle",
    "timezone",
    "standard_conforming_strings",
    "application_name",
}


def pgbouncer_binary() -> str | None:
    return shutil.which("pgbouncer") or next(
        (p for p in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer") if Path(p).exists()), None
    )


@dataclass(eq=False)
class PgBouncer:
    root: Path
    port: int
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @classmethod
    def start(cls, host: str, port: int, *, pool_size: int = 1) -> PgBouncer:
        binary = pgbouncer_binary()
        if binary is None:
            raise RuntimeError("pgbouncer is not installed (apt-get install pgbouncer; .ci/run does)")
        root = Path(tempfile.mkdtemp(prefix="walletsync-pgbouncer-"))
        bouncer = cls(root=root, port=free_port())
        try:
            (root / "users.txt").write_text(f'"{PG_USER}" ""\n')
            (root / "pgbouncer.ini").write_text(
                "\n".join(
                    [
                        "[databases]",
                        f"* = host={host} port={port}",
                        "[pgbouncer]",
                        "listen_addr = 127.0.0.1",
                        f"listen_port = {bouncer.port}",
                        "unix_socket_dir =",
                        "auth_type = trust",
                        f"auth_file = {root / 'users.txt'}",
                        f"admin_users = {PG_USER}",
                        "pool_mode = transaction",
                        f"default_pool_size = {pool_size}",
                        "reserve_pool_size = 0",
                        "max_client_conn = 200",
                        # Nothing is reset between clients, and server connections live all test long,
                        # so any session state a client leaves behind is visible to the next one.
                        "server_reset_query =",
                        "server_reset_query_always = 0",
                        "server_lifetime = 3600",
                        "server_idle_timeout = 3600",
                        "ignore_startup_parameters = extra_float_digits",
                        "",
                    ]
                )
            )
            argv = [binary, str(root / "pgbouncer.ini")]
            if os.geteuid() == 0:  # "PgBouncer should not run as root"
                entry = pwd.getpwnam(PG_USER)
                for path in (root, root / "users.txt", root / "pgbouncer.ini"):
                    os.chown(path, entry.pw_uid, entry.pw_gid)
                argv = ["runuser", "-u", PG_USER, "--", *argv]
            with (root / "pgbouncer.log").open("ab") as log:
                bouncer._proc = subprocess.Popen(
                    argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                )
            bouncer._wait_ready()
        except BaseException:
            bouncer.stop()
            raise
        return bouncer

    def _wait_ready(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self._proc is not None and self._proc.poll() is not None:
                raise RuntimeError(f"pgbouncer exited ({self._proc.returncode}): {self.log_tail()}")
            try:
                self.show("VERSION")
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"pgbouncer not ready after {timeout}s: {self.log_tail()}") from None
                time.sleep(0.05)

    def url(self, database: str) -> str:
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/{database}"

    def show(self, what: str) -> list[dict[str, Any]]:
        """`SHOW <what>` on the admin console (simple query protocol only, hence ClientCursor)."""
        if not what.replace("_", "").isalpha():
            raise ValueError(what)
        with psycopg.connect(
            self.url("pgbouncer"), autocommit=True, cursor_factory=psycopg.ClientCursor, connect_timeout=5
        ) as conn:
            cur = conn.execute(f"SHOW {what}".encode())
            names = [d.name for d in cur.description or []]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def server_pids(self, database: str) -> set[int]:
        """Backend pids of PgBouncer's server connections to `database`."""
        return {int(row["remote_pid"]) for row in self.show("SERVERS") if row["database"] == database}

    def session_state(self, direct_url: str, database: str) -> dict[int, list[str]]:
        """What each idle server connection of `database` carries from one client to the next.

        Each server connection is visited through PgBouncer: as many clients as there are server
        connections each hold a transaction open at once, so each one lands on a different server.
        Reads its own session (prepared statements, settings, cursors, temp tables, channels) there,
        and the advisory locks of those pids from `direct_url` (outside any client transaction).
        """
        pids = self.server_pids(database)
        found: dict[int, list[str]] = {}
        with contextlib.ExitStack() as stack:
            clients = [stack.enter_context(psycopg.connect(self.url(database))) for _ in pids]
            for conn in clients:  # each holds its transaction open: a distinct server each
                (pid,) = conn.execute("SELECT pg_backend_pid()").fetchone() or (0,)
                state = [
                    f"prepared statement {name}: {stmt[:80]}"
                    for name, stmt in conn.execute("SELECT name, statement FROM pg_prepared_statements")
                ]
                state += [
                    f"SET {name} = {value}"
                    for name, value in conn.execute(
                        # Set in the session to a value other than what RESET gives (asyncpg's type
                        # introspection sets jit off and back within one transaction: no change).
                        "SELECT name, setting FROM pg_settings"
                        " WHERE source = 'session' AND setting IS DISTINCT FROM reset_val"
                    )
                    if name.lower() not in PGBOUNCER_TRACKED
                ]
                state += [f"cursor {name}" for (name,) in conn.execute("SELECT name FROM pg_cursors")]
                state += [f"LISTEN {name}" for (name,) in conn.execute("SELECT pg_listening_channels()")]
                state += [
                    f"temporary table {name}"
                    for (name,) in conn.execute(
                        "SELECT relname FROM pg_class WHERE relnamespace = pg_my_temp_schema()"
                    )
                ]
                found[int(pid)] = state
            for conn in clients:
                conn.rollback()
        with psycopg.connect(direct_url, autocommit=True) as conn:
            for pid, objid in conn.execute(
                "SELECT pid, objid FROM pg_locks WHERE locktype = 'advisory' AND pid = ANY(%s)",
                (list(found),),
            ):
                found[int(pid)].append(f"advisory lock {objid}")
        return found

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join((self.root / "pgbouncer.log").read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self._proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, signal.SIGTERM)
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self._proc.pid, signal.SIGKILL)
                self._proc.wait(timeout=10)
            self._proc = None
        shutil.rmtree(self.root, ignore_errors=True)


def pgbouncer_or_skip(ci: bool) -> None:
    """Skip where pgbouncer is not installed; under CI=true fail instead (.ci/run installs it)."""
    if pgbouncer_binary() is None:
        if ci:
            pytest.fail("pgbouncer is not installed; CI=true requires it (.ci/run installs it)")
        pytest.skip("pgbouncer is not installed (apt-get install pgbouncer)")


@contextlib.contextmanager
def running_pgbouncer(host: str, port: int, *, pool_size: int = 1) -> Iterator[PgBouncer]:
    bouncer = PgBouncer.start(host, port, pool_size=pool_size)
    try:
        yield bouncer
    finally:
        bouncer.stop()
