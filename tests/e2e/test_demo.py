"""`walletsync demo --exit-after-sync` as a new user runs it: a subprocess, no provider configured."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support import run_walletsync


def _run_demo(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return run_walletsync(
        "demo",
        "--exit-after-sync",
        cwd=tmp_path,
        timeout=600,
        WALLETSYNC_DATA_DIR=str(tmp_path / "data"),
        **env,
    )


def _assert_demo_output(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "all 6 wallets match the provider's balances exactly" in out
    # ... after a fork of the Cardano chain between the first sync and a catch-up one.
    assert "reorg: the simulator replaced the last" in out
    assert out.count("matches provider") == 6
    assert "MISMATCH" not in out
    assert "wallet values (USD)" in out
    assert "top 5 by value" in out
    assert "Traceback" not in result.stderr


def test_demo_on_a_configured_database(tmp_path: Path, empty_database_url: str) -> None:
    """Against an empty PostgreSQL database: migrates, syncs, matches the simulator, prices, exits 0."""
    first = _run_demo(tmp_path, DATABASE_URL=empty_database_url)
    _assert_demo_output(first)
    # A second run finds the wallets tracked and synced: nothing new, still exact.
    second = _run_demo(tmp_path, DATABASE_URL=empty_database_url)
    _assert_demo_output(second)


@pytest.mark.slow
def test_demo_on_the_embedded_database(tmp_path: Path) -> None:
    """With no DATABASE_URL at all, the demo runs on the embedded PostgreSQL and says where it lives."""
    result = _run_demo(tmp_path)
    _assert_demo_output(result)
    assert f"embedded PostgreSQL in {tmp_path / 'data' / 'pg18'}" in result.stdout.replace("\n", "")
