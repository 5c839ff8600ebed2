"""Every command fails on a wrong or unreachable database or Redis with one line naming the setting.

Table-driven: each command that touches the database (or Redis) runs as a subprocess with a broken
URL and must exit 2 with at most 3 stderr lines, no traceback, and the setting's name in the line.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pgcluster import PgCluster, free_port
from tests.support import run_walletsync

SOLANA = "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM"

# Every command that opens the database, with the least arguments it needs. `{archive}` is a real
# backup (restore reads the file before the database); `{port}` a free port.
DATABASE_COMMANDS: list[tuple[str, ...]] = [
    ("migrate", "up"),
    ("migrate", "down"),
    ("migrate", "status"),
    ("migrate", "check"),
    ("backup", "{tmp}/out.dump"),
    ("restore", "{archive}"),
    ("wallets", "add", "--chain", "solana", SOLANA),
    ("wallets", "list"),
    ("wallets", "remove", "1", "--yes"),
    ("sync", "1"),
    ("balances", "1"),
    ("jobs", "list"),
    ("jobs", "failed"),
    ("jobs", "retry", "1"),
    ("jobs", "retry-failed"),
    ("apikeys", "create", "ops"),
    ("apikeys", "list"),
    ("apikeys", "revoke", "1"),
    ("prices", "sync"),
    ("prices", "show", "SOL/USD"),
    ("worker",),
    ("serve", "--port", "{port}"),
    ("api", "--port", "{port}"),
    ("demo", "--exit-after-sync", "--port", "{port}"),
]

# Commands that use Redis (cache, shared rate limits) and so check it at start.
REDIS_COMMANDS: list[tuple[str, ...]] = [
    ("sync", "1"),
    ("prices", "sync"),
    ("worker",),
    ("serve", "--port", "{port}"),
    ("api", "--port", "{port}"),
    ("demo", "--exit-after-sync", "--port", "{port}"),
    ("restore", "{archive}"),
]


def _args(command: tuple[str, ...], tmp_path: Path, archive: Path) -> list[str]:
    port = str(free_port())
    return [a.format(tmp=tmp_path, archive=archive, port=port) for a in command]


def _assert_one_line(result: subprocess.CompletedProcess[str], setting: str, reason: str) -> None:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert 1 <= len(lines) <= 3, lines
    assert lines[-1].startswith(f"error: {setting}: cannot connect to "), lines
    assert reason in lines[-1], lines


@pytest.fixture(scope="module")
def archive(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real `walletsync backup` file (restore checks the file before it opens the database)."""
    path = tmp_path_factory.mktemp("archive") / "db.dump"
    made = run_walletsync(
        "backup", str(path), cwd=path.parent, DATABASE_URL=database_url, WALLETSYNC_AUTO_MIGRATE="false"
    )
    assert made.returncode == 0, made.stderr
    return path


@pytest.mark.parametrize("command", DATABASE_COMMANDS, ids=" ".join)
def test_refused_database_url_is_one_line(command: tuple[str, ...], tmp_path: Path, archive: Path) -> None:
    """Nothing listens at DATABASE_URL: exit 2, `error: DATABASE_URL: cannot connect to ...: Connection refused`."""
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
    result = run_walletsync(
        *_args(command, tmp_path, archive),
        cwd=tmp_path,
        timeout=120,
        DATABASE_URL=url,
        WALLETSYNC_DATA_DIR=str(tmp_path / "data"),
    )
    _assert_one_line(result, "DATABASE_URL", "Connection refused")


@pytest.fixture(scope="module")
def password_cluster() -> Iterator[PgCluster]:
    """A throwaway server that checks passwords (the machine's own may trust local connections)."""
    with PgCluster.start() as cluster:
        cluster.primary.execute("ALTER ROLE postgres PASSWORD 'right-password'")
        hba = cluster.primary.data_dir / "pg_hba.conf"
        hba.write_text("local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n")
        cluster.primary.execute("SELECT pg_reload_conf()")
        yield cluster


@pytest.mark.parametrize(
    "command", [("wallets", "list"), ("migrate", "status"), ("api", "--port", "{port}")], ids=" ".join
)
@pytest.mark.parametrize("kind", ["unknown role", "unknown database", "bad password", "unknown host"])
def test_wrong_database_url_is_one_line(
    kind: str, command: tuple[str, ...], password_cluster: PgCluster, tmp_path: Path, archive: Path
) -> None:
    """Wrong role, database, password or host: one line with PostgreSQL's own reason, never the password."""
    port = password_cluster.primary.port
    url, reason = {
        "unknown role": (f"postgresql://nobody:right-password@127.0.0.1:{port}/postgres", 'user "nobody"'),
        "unknown database": (
            f"postgresql://postgres:right-password@127.0.0.1:{port}/nodb",
            'database "nodb" does not exist',
        ),
        "bad password": (
            f"postgresql://postgres:hunter2@127.0.0.1:{port}/postgres",
            "password authentication failed",
        ),
        "unknown host": ("postgresql://postgres@no-such-host.invalid/postgres", "no-such-host.invalid"),
    }[kind]
    result = run_walletsync(
        *_args(command, tmp_path, archive),
        cwd=tmp_path,
        timeout=120,
        WALLETSYNC_DATABASE_URL=url,
        WALLETSYNC_DATA_DIR=str(tmp_path / "data"),
    )
    _assert_one_line(result, "WALLETSYNC_DATABASE_URL", reason)
    assert "hunter2" not in result.stderr
    assert "right-password" not in result.stderr


def test_refused_direct_url_names_it(database_url: str, tmp_path: Path) -> None:
    """Migrations use DATABASE_DIRECT_URL when set: a dead one is named, not DATABASE_URL."""
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
    result = run_walletsync(
        "migrate", "status", cwd=tmp_path, DATABASE_URL=database_url, DATABASE_DIRECT_URL=url
    )
    _assert_one_line(result, "DATABASE_DIRECT_URL", "Connection refused")


@pytest.mark.parametrize("command", REDIS_COMMANDS, ids=" ".join)
def test_unreachable_redis_url_is_one_line(
    command: tuple[str, ...], database_url: str, tmp_path: Path, archive: Path
) -> None:
    """Nothing listens at REDIS_URL: the commands that use Redis stop at start with one line."""
    result = run_walletsync(
        *_args(command, tmp_path, archive),
        cwd=tmp_path,
        timeout=120,
        DATABASE_URL=database_url,
        REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
        WALLETSYNC_AUTO_MIGRATE="false",
        WALLETSYNC_DATA_DIR=str(tmp_path / "data"),
    )
    _assert_one_line(result, "REDIS_URL", "onnect")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("migrate", "up", "9999"), "error: migrate up 9999: Can't locate revision identified by '9999'"),
        (("migrate", "down", "nope"), "error: migrate down nope: Can't locate revision identified by 'nope'"),
    ],
)
def test_unknown_revision_is_one_line(
    args: tuple[str, ...], expected: str, empty_database_url: str, tmp_path: Path
) -> None:
    """A revision that does not exist: exit 2, one line listing what would be valid."""
    result = run_walletsync(*args, cwd=tmp_path, DATABASE_URL=empty_database_url)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert len(lines) == 1
    assert lines[0].startswith(expected)
    assert "revisions are 0001 to " in lines[0]
