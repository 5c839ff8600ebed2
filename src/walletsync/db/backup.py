"""`walletsync backup`: the database to a pg_dump custom-format file (the client tools are found and
run by `pgtools.py`; `walletsync restore` is `restore.py`, reading the file first `backup_archive.py`).

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
- The file is replaced only once the dump succeeded (pg_dump writes a hidden `.partial` next to it).

This blocks (a subprocess, synchronous connections): it is for the CLI, which calls it before any
event loop runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from walletsync.db.backup_archive import BackupInputError
from walletsync.db.backup_target import connect_target, current_revision, server_major_version
from walletsync.db.pgtools import PgTool, connection_for, find_tool, run_tool

BACKUP_APPLICATION = "walletsync-backup"


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
    with connect_target(url, BACKUP_APPLICATION) as engine, engine.connect() as db:
        server_major = server_major_version(db)
        revision = current_revision(db)
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
