"""Restoring a newer pg_dump archive into an older PostgreSQL (the embedded 18 to a server 15 or 16).

pg_restore reads only archives of its own major version or older, so a backup made by pg_dump 18
needs pg_restore 18, and that one sends settings an older server rejects before restoring any
object: `SET transaction_timeout = 0` (a PostgreSQL 17 setting) in the header it writes itself. It
has no option to leave a header setting out. So, when the server is older than the tool, pg_restore
writes the restore as an SQL script (`--file=-`), streamed through a filter that drops each
top-level `SET name = ...;` whose name the target server does not know (each one logged), into psql
of the tool's version with `ON_ERROR_STOP`, inside the script's own single transaction. COPY data
passes through untouched. An object that really needs a newer server still fails, with psql's
error on one line, and the transaction leaves the database as it was.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

import structlog
from rich.console import Console

from walletsync.db.pgtools import BackupToolError, ChildConnection, PgTool, ToolRun, last_error_line, spinner

log = structlog.get_logger(__name__)

_SET = re.compile(rb"^SET ([a-z_][a-z0-9_]*) = .*;\n?$")
_COPY = re.compile(rb"^COPY .* FROM stdin;\n?$")
_END_OF_COPY = b"\\.\n"


def drop_unknown_settings(
    lines: Iterable[bytes], known: frozenset[str], dropped: list[str]
) -> Iterator[bytes]:
    """The script's lines without top-level `SET x = ...;` for settings not in `known` (names in `dropped`)."""
    in_copy = False
    for line in lines:
        if in_copy:
            in_copy = line not in (_END_OF_COPY, b"\\.")
        elif _COPY.match(line):
            in_copy = True
        elif (match := _SET.match(line)) and match.group(1).decode() not in known:
            dropped.append(match.group(1).decode())
            continue
        yield line


def restore_through_psql(
    restore_args: list[str],
    psql: PgTool,
    *,
    conn: ChildConnection,
    known_settings: frozenset[str],
    application_name: str,
    label: str,
    console: Console | None,
) -> ToolRun:
    """`pg_restore --file=- ARGS | filter | psql`; raise `BackupToolError` with the first error line."""
    started = time.monotonic()
    dropped: list[str] = []
    env = conn.env(application_name)
    psql_args = [str(psql.path), "-X", "--quiet", "-v", "ON_ERROR_STOP=1", f"--dbname={conn.dsn}"]
    log.info("db.restore.script.started", tool=Path(restore_args[0]).name, psql=psql.version, label=label)
    with (
        tempfile.TemporaryFile() as restore_err,
        tempfile.TemporaryFile() as psql_err,
        spinner(console, label),
    ):
        writer = subprocess.Popen(  # noqa: S603 - binaries we located, arguments we built, no shell
            [*restore_args, "--file=-"], env=env, stdout=subprocess.PIPE, stderr=restore_err
        )
        reader = subprocess.Popen(  # noqa: S603
            psql_args, env=env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=psql_err
        )
        assert writer.stdout is not None
        assert reader.stdin is not None
        try:
            for line in drop_unknown_settings(writer.stdout, known_settings, dropped):
                reader.stdin.write(line)
        except BrokenPipeError:
            pass  # psql stopped at an error: its stderr says which
        except BaseException:
            writer.kill()
            reader.kill()
            raise
        finally:
            writer.stdout.close()
            with contextlib.suppress(BrokenPipeError):  # psql already gone
                reader.stdin.close()
            writer.wait()
            reader.wait()
        errors = {name: _read(file) for name, file in (("pg_restore", restore_err), ("psql", psql_err))}
    if dropped:
        log.info("db.restore.settings_dropped", settings=sorted(set(dropped)))
    for name, process in (("psql", reader), ("pg_restore", writer)):
        if process.returncode != 0:
            message = conn.redact(last_error_line(errors[name]) or f"exit code {process.returncode}")
            log.warning("db.restore.script.failed", tool=name, error=message)
            raise BackupToolError(f"{name} failed: {message}")
    return ToolRun(seconds=time.monotonic() - started, stderr=conn.redact(errors["psql"]))


def _read(file: IO[bytes]) -> str:
    file.seek(0)
    return file.read().decode("utf-8", errors="replace")
