"""PostgreSQL restarted (and killed) under a running sync: the worker recovers with no operator.

A throwaway server (`tests/pgcluster.py`), the simulator in its own server, `walletsync worker` as a
subprocess; the machine's own PostgreSQL is never touched.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from tests.integration.indexing.test_jobs import _worker_env
from tests.pgcluster import PgCluster, pg_cluster_factory  # noqa: F401 - the fixture
from tests.support import start_walletsync
from walletsync.config import Chain
from walletsync.db import migrate
from walletsync.simulator.faults import FaultConfig, FaultRule
from walletsync.simulator.ledger import Ledger
from walletsync.simulator.server import SimulatorServer


def _query(url: str, sql: str, *args: object) -> list[tuple[object, ...]]:
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=2) as conn:
            cursor = conn.execute(sql, args)  # type: ignore[arg-type]
            return list(cursor.fetchall()) if cursor.description is not None else []
    except psycopg.OperationalError:
        return []  # down or restarting: the caller polls again


def _stored(url: str, wallet_id: int) -> int:
    rows = _query(url, "SELECT count(*) FROM wallet_transactions WHERE wallet_id = %s", wallet_id)
    return int(rows[0][0]) if rows else -1  # type: ignore[call-overload]


def _until(check: Callable[[], bool], proc: subprocess.Popen[bytes], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert proc.poll() is None, f"the worker exited with {proc.returncode} while waiting for {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)  # polling another process; outcomes are asserted


@pytest.mark.slow
def test_sync_survives_postgres_restart_and_kill(
    pg_cluster_factory: Callable[..., PgCluster],  # noqa: F811
    ledger: Ledger,
    simulator: SimulatorServer,
    tmp_path: Path,
) -> None:
    cluster = pg_cluster_factory()
    url = cluster.create_database("walletsync")
    migrate.upgrade(url)
    address = ledger.solana_wallets[3]  # 2,300 transactions
    expected = ledger.wallet_tx_ids(Chain.SOLANA, address)
    wallet_id = int(
        _query(url, "INSERT INTO wallets (chain, address) VALUES ('solana', %s) RETURNING id", address)[0][0]  # type: ignore[call-overload]
    )
    _query(url, "INSERT INTO sync_state (wallet_id) VALUES (%s) ON CONFLICT DO NOTHING", wallet_id)
    _query(
        url,
        "INSERT INTO procrastinate_jobs (queue_name, task_name, lock, queueing_lock, args) "
        "VALUES ('sync', 'sync_wallet', %s, %s, %s::jsonb)",
        f"wallet-{wallet_id}",
        f"sync-wallet-{wallet_id}",
        json.dumps({"wallet_id": wallet_id}),
    )
    env = _worker_env(url, simulator) | {"WALLETSYNC_WORKER_STALLED_AFTER": "3"}
    simulator.set_faults(FaultConfig(providers={"solana": FaultRule(latency_ms=15)}))
    proc = start_walletsync(
        "worker", env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _until(lambda: _stored(url, wallet_id) > 0, proc, 60, "the first stored batch")
        cluster.primary.restart()  # pg_ctl restart -m fast, mid-sync
        first = _stored(url, wallet_id)
        _until(lambda: _stored(url, wallet_id) > first, proc, 90, "progress after the restart")
        cluster.primary.kill()  # kill -9 of the postmaster, mid-sync
        cluster.primary.start()

        def done() -> bool:
            rows = _query(url, "SELECT status FROM sync_state WHERE wallet_id = %s", wallet_id)
            return bool(rows) and rows[0][0] == "ok" and _stored(url, wallet_id) == len(expected)

        _until(done, proc, 240, "the sync to finish")
        proc.send_signal(signal.SIGTERM)  # a job still running (a requeued twin) finishes first
        assert proc.wait(timeout=120) == 0
    finally:
        simulator.set_faults(FaultConfig())
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
    ids = [r[0] for r in _query(url, "SELECT tx_id FROM wallet_transactions WHERE wallet_id = %s", wallet_id)]
    assert Counter(ids) == Counter(expected)  # no gap, no duplicate
    statuses = {
        r[0] for r in _query(url, "SELECT status FROM procrastinate_jobs WHERE task_name = 'sync_wallet'")
    }
    assert "doing" not in statuses
