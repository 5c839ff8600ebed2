"""`walletsync restore`: replace the database's content with a `walletsync backup` file.

- Restore refuses while API or worker processes are connected (unless forced), checks that the file is
  a walletsync backup whose revision this walletsync knows (`backup_archive.py`), replaces the
  database's content in one transaction, runs `migrate up` so an older backup reaches head, and
  empties the shared cache, whose entries describe the replaced content.
- A newer archive into an older server goes through `restore_script.py` (psql on a filtered script).
- TimescaleDB backups follow Timescale's procedure: `timescaledb_pre_restore()`, pg_restore (not in one
  transaction), `timescaledb_post_restore()`.

This blocks (subprocesses, synchronous connections): it is for the CLI, which calls it before any
event loop runs.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

import structlog
from rich.console import Console
from sqlalchemy import Column, Engine, MetaData, Table, Text, column, exists, func, select, table, text

from walletsync.config import Settings
from walletsync.db import migrate
from walletsync.db.backup_archive import BackupInputError, inspect_archive
from walletsync.db.backup_target import (
    connect_target,
    current_revision,
    server_major_version,
    walletsync_connections,
)
from walletsync.db.pgtools import BackupToolError, PgTool, connection_for, find_tool, run_tool, spinner
from walletsync.db.restore_script import restore_through_psql
from walletsync.errors import ConflictError

log = structlog.get_logger(__name__)

RESTORE_APPLICATION = "walletsync-restore"

_available_extensions = table("pg_available_extensions", column("name"))
_settings = table("pg_settings", column("name"))
# Alembic's own bookkeeping table, dropped with the schema when a restore clears the database first.
_alembic_version = Table("alembic_version", MetaData(), Column("version_num", Text, primary_key=True))


class DatabaseInUseError(ConflictError):
    """Restore was asked while walletsync processes are connected to the database."""


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
    with connect_target(url, RESTORE_APPLICATION) as engine:
        with engine.connect() as db:
            server_major = server_major_version(db)
            current = current_revision(db)
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
