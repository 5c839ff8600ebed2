"""The embedded PostgreSQL: starts from the wheel, keeps data across restarts, shared by processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from walletsync.db.embedded import start_embedded, stop_embedded

pytestmark = pytest.mark.slow


def test_restart_keeps_data(tmp_path: Path) -> None:
    """Rows written before a stop are there after the next start of the same data dir."""
    first = start_embedded(tmp_path)
    with psycopg.connect(first.url(), autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (v int)")
        conn.execute("INSERT INTO kept VALUES (42)")
    stop_embedded(tmp_path)
    second = start_embedded(tmp_path)
    try:
        with psycopg.connect(second.url()) as conn:
            row = conn.execute("SELECT v FROM kept").fetchone()
        assert row == (42,)
        assert second.pgdata == first.pgdata
    finally:
        stop_embedded(tmp_path)


def test_second_process_shares_the_running_server(tmp_path: Path) -> None:
    """A second process on the same data dir attaches to the same postmaster instead of starting one."""
    mine = start_embedded(tmp_path)
    try:
        script = (
            "import sys; from pathlib import Path; from walletsync.db.embedded import start_embedded;"
            "e = start_embedded(Path(sys.argv[1])); print(e.pid)"
        )
        result = subprocess.run(
            [sys.executable, "-c", script, str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        assert int(result.stdout.strip().splitlines()[-1]) == mine.pid
        # The other process exiting must not have stopped the server we still hold.
        with psycopg.connect(mine.url()) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        stop_embedded(tmp_path)
