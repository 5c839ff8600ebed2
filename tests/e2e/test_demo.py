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


def test_demo_says_how_to_call_its_api_and_keeps_one_seed(tmp_path: Path, empty_database_url: str) -> None:
    """Serving, the demo prints a read key and a curl line that works; a request without a key gets a
    401 naming `walletsync apikeys create`. A later run with another --seed is refused (exit 2, one
    line) before it adds wallets or writes candles."""
    import select as io_select
    import signal
    import time

    import httpx
    from sqlalchemy import create_engine, func, select

    from tests.pgcluster import free_port
    from tests.support import clean_env, start_walletsync
    from walletsync.db.engine import psycopg_url
    from walletsync.db.models import candles, wallets

    port = free_port()
    env = clean_env(
        DATABASE_URL=empty_database_url, WALLETSYNC_DATA_DIR=str(tmp_path / "data"), COLUMNS="250"
    )
    proc = start_walletsync(
        "demo",
        "--port",
        str(port),
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    curl = ""
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 240  # under pytest-timeout's 300 s, so this says what failed
        while time.monotonic() < deadline and not curl:
            ready, _, _ = io_select.select([proc.stdout], [], [], 5)  # never block past the deadline
            if not ready:
                continue
            line = proc.stdout.readline()
            assert line, "the demo ended before printing how to call its API"
            if line.strip().startswith("curl -H"):
                curl = line.strip()
        assert curl, "the demo never printed a curl line with a read key"
        key = curl.split("Bearer ")[1].split("'")[0]
        url = curl.split()[-1]
        response = None
        deadline = time.monotonic() + 180  # the API starts right after the line is printed
        while response is None and time.monotonic() < deadline:
            try:
                response = httpx.get(url, headers={"Authorization": f"Bearer {key}"}, timeout=10)
            except httpx.TransportError:
                time.sleep(0.3)
        assert response is not None, "the demo's API never answered"
        assert response.status_code == 200, response.text
        refused = httpx.get(url, timeout=10)
        assert refused.status_code == 401
        assert "walletsync apikeys create" in refused.json()["detail"]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)

    engine = create_engine(psycopg_url(empty_database_url))
    try:
        with engine.connect() as conn:
            before = (
                conn.scalar(select(func.count()).select_from(wallets)),
                conn.scalar(select(func.sum(candles.c.close))),
            )
        other = run_walletsync(
            "demo",
            "--exit-after-sync",
            "--seed",
            "8",
            cwd=tmp_path,
            timeout=600,
            DATABASE_URL=empty_database_url,
            WALLETSYNC_DATA_DIR=str(tmp_path / "data"),
        )
        assert other.returncode == 2, other.stdout + other.stderr
        assert (
            other.stderr.strip()
            .splitlines()[-1]
            .startswith("error: this database already holds the demo of another --seed")
        )
        with engine.connect() as conn:
            after = (
                conn.scalar(select(func.count()).select_from(wallets)),
                conn.scalar(select(func.sum(candles.c.close))),
            )
        assert after == before
        assert before[0] == 6
    finally:
        engine.dispose()
