"""A port already in use stops serve / api / demo / worker --metrics-port at once, with one line."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pgcluster import free_port
from tests.support import run_walletsync


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port something else listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield other.getsockname()[1]


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (("serve", "--port", "{port}"), "--port"),
        (("api", "--port", "{port}"), "--port"),
        (("demo", "--port", "{port}"), "--port"),
        (("worker", "--metrics-port", "{port}"), "--metrics-port"),
    ],
    ids=lambda v: v[0] if isinstance(v, tuple) else None,
)
def test_taken_port_is_one_line_before_anything_else(
    args: tuple[str, ...], option: str, taken_port: int, tmp_path: Path
) -> None:
    """Exit 2, one line naming the option and port; checked before the database (here unreachable,
    so a later check would have reported that instead) and before any data directory is made."""
    dead_database = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
    result = run_walletsync(
        *(a.format(port=taken_port) for a in args),
        cwd=tmp_path,
        timeout=60,
        DATABASE_URL=dead_database,
        WALLETSYNC_DATA_DIR=str(tmp_path / "data"),
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.splitlines() == [
        f"error: {option} {taken_port}: cannot listen on 127.0.0.1:{taken_port}: already in use"
    ]
    assert not (tmp_path / "data").exists()
