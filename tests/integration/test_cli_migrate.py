"""`migrate down` holds the database where the operator left it; destructive commands ask first."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.support import WALLETSYNC, clean_env, run_walletsync


def _run(url: str, tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_walletsync(*args, cwd=tmp_path, DATABASE_URL=url, WALLETSYNC_DATA_DIR=str(tmp_path), **env)


def test_after_migrate_down_commands_refuse_instead_of_migrating_up(
    empty_database_url: str, tmp_path: Path
) -> None:
    """migrate down -1 -> `wallets list` exits 2 naming `migrate up` and the schema stays down; up releases it."""
    assert _run(empty_database_url, tmp_path, "migrate", "up").returncode == 0
    down = _run(empty_database_url, tmp_path, "migrate", "down", "-1")
    assert down.returncode == 0, down.stderr
    head = _run(empty_database_url, tmp_path, "migrate", "status").stdout.split("head:")[1].split()[0]

    listed = _run(empty_database_url, tmp_path, "wallets", "list")
    assert listed.returncode == 2
    lines = listed.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: the database was migrated down to ")
    assert lines[0].endswith(f"run `walletsync migrate up` to bring it back to {head}")
    status = _run(empty_database_url, tmp_path, "migrate", "status")
    assert "pending:" in status.stdout  # still down: the refused command did not migrate

    assert _run(empty_database_url, tmp_path, "migrate", "up").returncode == 0
    assert _run(empty_database_url, tmp_path, "wallets", "list").returncode == 0


def test_schema_behind_without_auto_migrate_is_one_line(empty_database_url: str, tmp_path: Path) -> None:
    """WALLETSYNC_AUTO_MIGRATE=false on an unmigrated database: one line naming the setting, exit 2."""
    listed = _run(empty_database_url, tmp_path, "jobs", "list", WALLETSYNC_AUTO_MIGRATE="false")
    assert listed.returncode == 2
    assert listed.stderr.strip().startswith(
        "error: the database schema is at base but this walletsync needs "
    )
    assert listed.stderr.strip().endswith("WALLETSYNC_AUTO_MIGRATE=false: run `walletsync migrate up`")


def test_migrate_down_base_needs_confirmation(empty_database_url: str, tmp_path: Path) -> None:
    """Without a terminal and without --yes, `migrate down base` refuses and drops nothing."""
    assert _run(empty_database_url, tmp_path, "migrate", "up").returncode == 0
    refused = _run(empty_database_url, tmp_path, "migrate", "down", "base")
    assert refused.returncode == 2
    assert refused.stderr.strip() == (
        "error: Drop every walletsync table and all indexed data (migrate down base)? "
        "Not confirmed (no terminal): pass --yes"
    )
    assert "up to date" in _run(empty_database_url, tmp_path, "migrate", "status").stdout
    done = _run(empty_database_url, tmp_path, "migrate", "down", "base", "--yes")
    assert done.returncode == 0, done.stderr
    assert "at revision base" in done.stdout


def test_wallets_remove_asks_on_a_terminal(empty_database_url: str, tmp_path: Path) -> None:
    """On a terminal, `wallets remove` asks; answering no keeps the wallet (exit 1), yes removes it."""
    address = "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM"
    assert (
        _run(empty_database_url, tmp_path, "wallets", "add", "-c", "solana", address, "--no-sync").returncode
        == 0
    )
    env = clean_env(DATABASE_URL=empty_database_url, WALLETSYNC_DATA_DIR=str(tmp_path), COLUMNS="250")
    for answer, code in (("n", 1), ("y", 0)):
        leader, follower = os.openpty()
        try:
            child = subprocess.Popen(
                [*WALLETSYNC, "wallets", "remove", address],
                stdin=follower,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
                cwd=tmp_path,
            )
            os.write(leader, f"{answer}\n".encode())
            out, err = child.communicate(timeout=120)
        finally:
            os.close(leader)
            os.close(follower)
        assert child.returncode == code, err
        assert "Stop tracking wallet 1 (solana " in err
        listed = _run(empty_database_url, tmp_path, "wallets", "list").stdout
        assert ("1 tracked wallet(s)" in listed) == (answer == "n")
        if answer == "y":
            assert f"removed wallet 1: solana {address}" in out
