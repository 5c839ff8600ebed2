"""Reading a backup file before restore touches the database: is it a pg_dump custom-format archive,
which pg_dump made it, which extensions it needs, and which walletsync schema revision it holds.

The newest pg_restore found lists the archive (it reads every older archive version) and prints its
`alembic_version` row; nothing is restored here.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from walletsync.db.pgtools import BackupToolError, candidate_paths, last_error_line, probe_tool
from walletsync.errors import WalletsyncError

ARCHIVE_MAGIC = b"PGDMP"
_DUMPED_BY_RE = re.compile(r"^;\s+Dumped by pg_dump version:\s+(\d+)", re.MULTILINE)
_EXTENSION_RE = re.compile(r"^\d+;\s+\d+\s+\d+\s+EXTENSION\s+-\s+(\S+)", re.MULTILINE)


class BackupInputError(WalletsyncError):
    """The file given to restore is missing, unreadable or not a walletsync backup."""

    status = 422
    title = "Invalid backup"
    exit_code = 2


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
