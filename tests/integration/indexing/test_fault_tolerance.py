"""Fault tests on a real PostgreSQL, a real worker and the simulator in its own server: a worker
SIGKILLed three times mid-backfill, and malformed provider bodies."""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import and_, func, select

from tests.integration.indexing.test_jobs import _add, _start_worker, _wait_for, spawn_worker  # noqa: F401
from walletsync.config import Chain
from walletsync.db.engine import Database
from walletsync.db.models import assets, balance_deltas, sync_state
from walletsync.jobs.api import defer_sync, list_jobs
from walletsync.jobs.worker import run_worker
from walletsync.services import open_services
from walletsync.simulator.faults import FaultConfig, FaultRule
from walletsync.simulator.ledger import Ledger
from walletsync.simulator.server import SimulatorServer

from .conftest import SEED, simulator_settings
from .stored import linked_tx_ids


@pytest.fixture(scope="module")
def ledger() -> Ledger:
    """The package's ledger plus a 6,500-transaction wallet: a first sync commits one signature page
    (up to 1,000 transactions) at a time, so three kills, each right after the next commit, stop
    about 3,000 in, with pages to spare however late a busy machine notices a commit."""
    return Ledger(SEED, solana_wallets=3, cardano_wallets=3, exact_solana_wallets=[2300, 6500])


async def _native_balance(db: Database, wallet_id: int) -> int:
    async with db.read() as conn:
        return int(
            await conn.scalar(
                select(func.coalesce(func.sum(balance_deltas.c.amount), 0))
                .select_from(balance_deltas.join(assets, assets.c.id == balance_deltas.c.asset_id))
                .where(and_(balance_deltas.c.wallet_id == wallet_id, assets.c.asset_key == "native"))
            )
            or 0
        )


async def _delta_rows_per_tx_and_asset(db: Database, wallet_id: int) -> Counter[int]:
    async with db.read() as conn:
        rows = (
            await conn.execute(
                select(balance_deltas.c.tx_id, balance_deltas.c.asset_id, func.count())
                .where(balance_deltas.c.wallet_id == wallet_id)
                .group_by(balance_deltas.c.tx_id, balance_deltas.c.asset_id)
            )
        ).all()
    return Counter(int(n) for _, _, n in rows)


@pytest.mark.slow
async def test_worker_sigkilled_three_times_mid_backfill_converges_exactly(
    db: Database,
    ledger: Ledger,
    simulator: SimulatorServer,
    database_url: str,
    spawn_worker: list[subprocess.Popen[bytes]],  # noqa: F811
) -> None:
    """Three kill -9s at growing progress; a fourth worker finishes: every transaction once, the balance
    equal to the chain's own, one delta row per (transaction, asset)."""
    address = ledger.solana_wallets[4]  # 6,500 transactions
    expected = ledger.wallet_tx_ids(Chain.SOLANA, address)
    wallet_id = await _add(db, Chain.SOLANA, address)
    async with db.write() as conn:
        await defer_sync(conn, wallet_id)
    simulator.set_faults(FaultConfig(providers={"solana": FaultRule(latency_ms=15)}))
    progress = []
    try:
        for _ in range(3):
            worker = _start_worker(database_url, simulator)
            spawn_worker.append(worker)
            before = len(await linked_tx_ids(db, wallet_id))
            deadline = time.monotonic() + 90
            while len(await linked_tx_ids(db, wallet_id)) <= before:
                if worker.poll() is not None:
                    raise AssertionError(f"worker exited with {worker.returncode}")
                assert time.monotonic() < deadline, f"no progress past {before} transactions in 90 s"
                await _pause_briefly()
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=30)
            progress.append(len(await linked_tx_ids(db, wallet_id)))
        assert progress == sorted(progress)
        assert progress[-1] < len(expected), "the backfill finished before the third kill"

        last = _start_worker(database_url, simulator)
        spawn_worker.append(last)
        await _wait_for(db, wallet_id, "ok", timeout_s=180)
        last.send_signal(signal.SIGTERM)
        assert last.wait(timeout=60) == 0
    finally:
        simulator.set_faults(FaultConfig())
    assert Counter(await linked_tx_ids(db, wallet_id)) == Counter(expected)  # no gap, no duplicate
    assert await _native_balance(db, wallet_id) == ledger.solana_lamports(address)
    assert set(await _delta_rows_per_tx_and_asset(db, wallet_id)) == {1}
    async with db.read() as conn:
        jobs = [j for j in await list_jobs(conn) if j.task_name == "sync_wallet"]
    assert "doing" not in {j.status for j in jobs}
    assert "failed" not in {j.status for j in jobs}  # lost workers' jobs are requeued or superseded


async def _pause_briefly() -> None:
    import asyncio

    await asyncio.sleep(0.05)  # poll for the next stored batch; outcomes are asserted


async def test_malformed_bodies_fail_the_job_with_one_line_and_store_nothing_partial(
    db: Database, ledger: Ledger, simulator: SimulatorServer, database_url: str, tmp_path: Path
) -> None:
    """A fifth of Solana answers are truncated JSON or HTML: the job fails with one readable line;
    whatever was stored is whole, and a clean retry converges to the chain's balance exactly."""
    settings = simulator_settings(
        database_url,
        simulator,
        tmp_path,
        job_max_attempts=1,
        provider_max_attempts=1,
        breaker_failure_threshold=1000,
    )
    address = ledger.solana_wallets[3]
    wallet_id = await _add(db, Chain.SOLANA, address)
    async with db.write() as conn:
        job_id = await defer_sync(conn, wallet_id)
    simulator.set_faults(FaultConfig(providers={"solana": FaultRule(malformed_rate=0.2)}))
    try:
        async with open_services(settings, database_url) as services:
            await run_worker(services, concurrency=1, wait=False, install_signal_handlers=False)
    finally:
        simulator.set_faults(FaultConfig())
    async with db.read() as conn:
        job = next(j for j in await list_jobs(conn) if j.id == job_id)
        state = (await conn.execute(select(sync_state).where(sync_state.c.wallet_id == wallet_id))).one()
    assert job.status == "failed"
    assert job.last_error is not None
    assert "\n" not in job.last_error
    assert job.last_error.startswith("ProviderUnavailableError: solana: gave up after 1 attempts: ")
    assert "not JSON" in job.last_error or "malformed" in job.last_error.lower()
    assert state.status == "error"
    assert state.error is not None
    assert "\n" not in state.error
    stored = await linked_tx_ids(db, wallet_id)
    assert set(stored) <= ledger.wallet_tx_ids(Chain.SOLANA, address)
    assert set(await _delta_rows_per_tx_and_asset(db, wallet_id)) <= {1}

    async with db.write() as conn:
        await defer_sync(conn, wallet_id)
    async with open_services(settings, database_url) as services:
        await run_worker(services, concurrency=1, wait=False, install_signal_handlers=False)
    assert Counter(await linked_tx_ids(db, wallet_id)) == Counter(ledger.wallet_tx_ids(Chain.SOLANA, address))
    assert await _native_balance(db, wallet_id) == ledger.solana_lamports(address)
