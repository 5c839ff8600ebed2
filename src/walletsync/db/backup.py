"""`walletsync backup` and `walletsync restore`: the database to and from a pg_dump custom-format file
(the client tools are found and run by `pgtools.py`; a newer archive into an older server goes
through `restore_script.py`).

Written around PostgreSQL's own client tools rather than a dump format of ours: pg_dump reads one
consistent snapshot without blocking writers, its custom format is compressed and restorable by any
newer pg_restore, and it carries everything the schema holds (Procrastinate's functions and triggers,
views, sequences, TimescaleDB's catalog) that a table-by-table export would miss.

What is ours is the care around the tools:
- Choosing the binaries. A pg_dump older than the server refuses to run, so we look for one whose
  major version matches the server: the embedded server's wheel ships its own (`pginstall*/bin`), then
  `pg_dump` on PATH and Debian's `/usr/lib/postgresql/*/bin`. With no exact match a newer one is used;
  with none at least as new, a one-line error names the versions found.
- Passwords go to the child in `PGPASSWORD`, never on its command line, and are masked in messages.
- Restore refuses while API or worker processes are connected (unless forced), checks that the file is
  a walletsync backup whose revision this walletsync knows, replaces the database's content in one
  transaction, runs `migrate up` so an older backup reaches head, and empties the shared cache, whose
  entries describe the replaced content.
- TimescaleDB backups follow Timescale's procedure: `timescaledb_pre_restore()`, pg_restore (not in one
  transaction), `timescaledb_post_restore()`.

These functions block (subprocesses, synchronous connections): they are for the CLI, which calls them
before any event loop runs.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import structlog
from rich.console import Console
from sqlalchemy import (
    Column,
    Connection,
    Engine,
    MetaData,
    Table,
    Text,
    column,
    create_engine,
    exists,
    func,
    pool,
    select,
    table,
    text,
)
from sqlalchemy.exc import OperationalError

from walletsync.config import Settings
from walletsync.db import migrate
from walletsync.db.engine import psycopg_url
from walletsync.db.pgtools import (
    BackupToolError,
    PgTool,
    candidate_paths,
    connection_for,
    find_tool,
    last_error_line,
    probe_tool,
    run_tool,
    spinner,
)
from walletsync.db.restore_script import restore_through_psql
from walletsync.errors import ConflictError, WalletsyncError

log = structlog.get_logger(__name__)

ARCHIVE_MAGIC = b"PGDMP"
BACKUP_APPLICATION = "walletsync-backup"
RESTORE_APPLICATION = "walletsync-restore"
_DUMPED_BY_RE = re.compile(r"^;\s+Dumped by pg_dump version:\s+(\d+)", re.MULTILINE)
_EXTENSION_RE = re.compile(r"^\d+;\s+\d+\s+\d+\s+EXTENSION\s+-\s+(\S+)", re.MULTILINE)

_activity = table("pg_stat_activity", column("pid"), column("datname"), column("application_name"))
_available_extensions = table("pg_available_extensions", column("name"))
_settings = table("pg_settings", column("name"))
# Alembic's own bookkeeping table, dropped with the schema when a restore clears the database first.
_alembic_version = Table("alembic_version", MetaData(), Column("version_num", Text, primary_key=True))


class BackupInputError(WalletsyncError):
    """The file given to restore is missing, unreadable or not a walletsync backup."""

    status = 422
    title = "Invalid backup"
    exit_code = 2


class DatabaseInUseError(ConflictError):
    """Restore was asked while walletsync processes are connected to the database."""


@contextmanager
def _engine(url: str, application_name: str) -> Iterator[Engine]:
    """A one-connection-at-a-time engine; a failure to connect becomes a one-line `BackupToolError`."""
    engine = create_engine(
        psycopg_url(url), poolclass=pool.NullPool, connect_args={"application_name": application_name}
    )
    try:
        yield engine
    except OperationalError as exc:
        if not exc.connection_invalidated and "connection" not in str(exc.orig).lower():
            raise
        target = connection_for(url)
        reason = " ".join(line.strip() for line in str(exc.orig).splitlines() if line.strip())
        reason = target.redact(reason.removeprefix("connection failed: ") or "connection failed")
        raise BackupToolError(f"cannot connect to {target.display}: {reason}") from None
    finally:
        engine.dispose()


def _server_major(conn: Connection) -> int:
    version_num = conn.scalar(select(func.current_setting("server_version_num")))
    return int(str(version_num)) // 10_000


def _current_revision(conn: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    heads = MigrationContext.configure(conn).get_current_heads()
    return heads[0] if heads else None


def walletsync_connections(conn: Connection) -> dict[str, int]:
    """Other sessions on this database whose application name starts with `walletsync`, by name."""
    rows = conn.execute(
        select(_activity.c.application_name, func.count())
        .where(
            _activity.c.datname == func.current_database(),
            _activity.c.pid != func.pg_backend_pid(),
            _activity.c.application_name.like("walletsync%"),
        )
        .group_by(_activity.c.application_name)
        .order_by(_activity.c.application_name)
    )
    return {str(name): int(count) for name, count in rows}


# --- backup --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BackupResult:
    path: Path
    size_bytes: int
    seconds: float
    tool: PgTool
    server_major: int
    revision: str | None


def backup(url: str, path: Path, *, console: Console | None = None) -> BackupResult:
    """Dump the database at `url` to `path` (custom format), replacing `path` only once the dump succeeded."""
    path = path.expanduser()
    if path.is_dir():
        raise BackupInputError(f"{path} is a directory: give a file name for the backup")
    if not path.parent.is_dir():
        raise BackupInputError(f"cannot write {path}: {path.parent} does not exist")
    conn = connection_for(url)
    with _engine(url, BACKUP_APPLICATION) as engine, engine.connect() as db:
        server_major = _server_major(db)
        revision = _current_revision(db)
    tool = find_tool("pg_dump", server_major)
    partial = path.with_name(f".{path.name}.partial")
    args = [str(tool.path), "--format=custom", f"--file={partial}", f"--dbname={conn.dsn}"]
    try:
        run = run_tool(
            args,
            conn=conn,
            application_name=BACKUP_APPLICATION,
            label=f"backing up to {path}",
            console=console,
        )
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return BackupResult(
        path=path,
        size_bytes=path.stat().st_size,
        seconds=run.seconds,
        tool=tool,
        server_major=server_major,
        revision=revision,
    )


# --- reading an archive --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Archive:
    """What restore needs to know about a backup file before touching the database."""

    path: Path
    dumped_by_major: int
    revision: str | None  # the walletsync migration revision recorded in the backup
    extensions: frozenset[str] = field(default_factory=frozenset)

    @property
    def timescale(self) -> bool:
        return "timescaledb" in self.extensions


def inspect_archive(path: Path) -> Archive:
    """Check that `path` is a custom-format archive and read its producer, extensions and revision."""
    path = path.expanduser()
    if not path.exists():
        raise BackupInputError(f"{path}: no such file")
    if not path.is_file():
        raise BackupInputError(f"{path} is not a file (restore takes a `walletsync backup` file)")
    try:
        with path.open("rb") as file:
            magic = file.read(len(ARCHIVE_MAGIC))
    except OSError as exc:
        raise BackupInputError(f"{path}: cannot read it ({exc.strerror})") from None
    if magic != ARCHIVE_MAGIC:
        raise BackupInputError(
            f"{path} is not a pg_dump custom-format archive (make one with `walletsync backup FILE`)"
        )
    # The newest pg_restore reads every older archive version.
    readers = [t for t in (probe_tool(p) for p in candidate_paths("pg_restore")) if t is not None]
    if not readers:
        raise BackupToolError("no pg_restore found: install the PostgreSQL client tools")
    reader = max(readers, key=lambda t: t.major)
    listing = _capture([str(reader.path), "--list", str(path)], what=f"{path} is not a readable archive")
    dumped_by = _DUMPED_BY_RE.search(listing)
    if dumped_by is None:
        raise BackupInputError(f"{path} is not a readable archive: no pg_dump version in its header")
    data = _capture(
        [str(reader.path), "--data-only", "--table=alembic_version", "--file=-", str(path)],
        what=f"{path} is not a readable archive",
    )
    return Archive(
        path=path,
        dumped_by_major=int(dumped_by.group(1)),
        revision=_copied_revision(data),
        extensions=frozenset(_EXTENSION_RE.findall(listing)),
    )


def _capture(args: list[str], *, what: str) -> str:
    result = subprocess.run(  # noqa: S603 - a binary we located, no shell
        args, capture_output=True, text=True, check=False, errors="replace"
    )
    if result.returncode != 0:
        raise BackupInputError(f"{what}: {last_error_line(result.stderr) or 'pg_restore failed'}")
    return result.stdout


def _copied_revision(script: str) -> str | None:
    """The row of `COPY public.alembic_version ... FROM stdin;` in a pg_restore script."""
    lines = iter(script.splitlines())
    for line in lines:
        if line.startswith("COPY ") and "alembic_version" in line:
            row = next(lines, "\\.")
            return None if row == "\\." else row.strip()
    return None


# --- restore -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RestoreResult:
    path: Path
    seconds: float
    tool: PgTool
    backup_revision: str
    revision: str | None  # after `migrate up`
    cleared_first: bool
    forced_past: dict[str, int]
    cache: str  # what happened to the shared cache, for the command's summary


def restore(
    settings: Settings,
    url: str,
    path: Path,
    *,
    force: bool = False,
    console: Console | None = None,
) -> RestoreResult:
    """Replace the content of the database at `url` with the backup at `path`, then migrate it to head."""
    archive = inspect_archive(path)
    known = migrate.revisions()
    if archive.revision is None:
        raise BackupInputError(f"{archive.path} is not a walletsync backup: it has no alembic_version row")
    if archive.revision not in known:
        raise BackupInputError(
            f"{archive.path} is at schema revision {archive.revision}, which this walletsync does not know "
            f"(newest: {known[-1]}): restore it with the walletsync version that made it, or a newer one"
        )
    conn = connection_for(url)
    started = time.monotonic()
    with _engine(url, RESTORE_APPLICATION) as engine:
        with engine.connect() as db:
            server_major = _server_major(db)
            current = _current_revision(db)
            others = walletsync_connections(db)
            timescale_available = bool(
                db.scalar(select(exists().where(_available_extensions.c.name == "timescaledb")))
            )
            known_settings = frozenset(str(name) for name in db.scalars(select(_settings.c.name)))
        if others and not force:
            listed = ", ".join(f"{name} ×{count}" for name, count in others.items())
            raise DatabaseInUseError(
                f"refusing to restore: walletsync processes are connected ({listed}); "
                "stop the API and workers first, or pass --force"
            )
        if current is not None and current not in known:
            raise BackupInputError(
                f"the database is at schema revision {current}, which this walletsync does not know: "
                "restore with a newer walletsync, or into an empty database"
            )
        if archive.timescale and not timescale_available:
            raise BackupToolError(
                f"{archive.path} was made on TimescaleDB, which this PostgreSQL server does not have: "
                "restore it on a server with the timescaledb extension"
            )
        tool = find_tool("pg_restore", server_major, at_least=archive.dumped_by_major)
        # Same schema revision: pg_restore --clean replaces every object in one transaction. A
        # different revision leaves objects the backup does not drop (or cannot create), and
        # TimescaleDB wants an empty target, so then the schema is first taken down to nothing.
        clear_first = current is not None and (current != archive.revision or archive.timescale)
        if clear_first:
            with spinner(console, f"clearing the database (revision {current} → base)"):
                migrate.downgrade(url, "base")
                with engine.begin() as db:
                    _alembic_version.drop(db, checkfirst=True)
        args = [str(tool.path), "--no-owner", "--exit-on-error"]
        if archive.timescale:
            _timescale_pre_restore(engine)
        else:
            args += ["--clean", "--if-exists", "--single-transaction"]
        label = f"restoring {archive.path}"
        try:
            if tool.major > server_major:
                # A newer archive into an older server (the embedded 18 into 15 or 16): see restore_script.py.
                if tool.major >= 18 > server_major:
                    args.append("--no-statistics")  # restoring statistics needs PostgreSQL 18
                psql = find_tool("psql", tool.major)
                restore_through_psql(
                    [*args, str(archive.path)],
                    psql,
                    conn=conn,
                    known_settings=known_settings,
                    application_name=RESTORE_APPLICATION,
                    label=label,
                    console=console,
                )
            else:
                run_tool(
                    [*args, f"--dbname={conn.dsn}", str(archive.path)],
                    conn=conn,
                    application_name=RESTORE_APPLICATION,
                    label=label,
                    console=console,
                )
        finally:
            if archive.timescale:
                _timescale_post_restore(engine)
    with spinner(console, "migrating to head"):
        status = migrate.upgrade(url)
    cache = _clear_shared_cache(settings)
    return RestoreResult(
        path=archive.path,
        seconds=time.monotonic() - started,
        tool=tool,
        backup_revision=archive.revision,
        revision=status.current[0] if status.current else None,
        cleared_first=clear_first,
        forced_past=others,
        cache=cache,
    )


def _timescale_pre_restore(engine: Engine) -> None:
    # Both run on their own sessions: pre_restore sets `timescaledb.restoring` for the database, which
    # pg_restore's new session then sees, and stops TimescaleDB's background jobs until post_restore.
    with engine.begin() as db:
        db.execute(text("CREATE EXTENSION IF NOT EXISTS timescaledb"))
        db.execute(select(func.timescaledb_pre_restore()))


def _timescale_post_restore(engine: Engine) -> None:
    with engine.begin() as db:
        db.execute(select(func.timescaledb_post_restore()))


def _clear_shared_cache(settings: Settings) -> str:
    """Empty this deployment's Redis namespace: cached balances name wallet ids the restore reassigned."""
    if not settings.redis_url or not settings.cache_enabled:
        return "no shared cache"
    from walletsync.cache import CacheLayer

    async def clear() -> int | None:
        layer = CacheLayer(settings)
        try:
            if not (await layer.health()).ok:
                return None
            return await layer.clear_namespace()
        finally:
            await layer.close()

    cleared = asyncio.run(clear())
    if cleared is None:
        log.warning("db.restore.cache_unreachable", detail="cached entries expire within their TTLs")
        return "Redis unreachable: cached reads expire within their TTLs"
    return f"{cleared} cached key(s) removed from Redis"
