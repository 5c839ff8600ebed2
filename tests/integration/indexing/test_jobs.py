"""Durable jobs on a real PostgreSQL: deferral, dead letters, operator retry, and a SIGKILLed worker."""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from tests.support import clean_env, start_walletsync
from walletsync.config import Chain, Settings
from walletsync.db.engine import Database
from walletsync.db.models import job_failures, sync_state, wallet_transactions, wallets
from walletsync.jobs.api import defer_sync, get_job, list_jobs, queue_depth, retry_failed, retry_job
from walletsync.jobs.app import MAINTENANCE_QUEUE, open_app
from walletsync.jobs.sweep import sweep
from walletsync.jobs.tables import procrastinate_jobs
from walletsync.jobs.worker import run_worker
from walletsync.services import open_services
from walletsync.simulator.faults import FaultConfig, FaultRule
from walletsync.simulator.ledger import Ledger
from walletsync.simulator.server import SimulatorServer
from walletsync.wallets.repository import add_wallet, remove_wallet

from .conftest import simulator_settings


async def _add(db: Database, chain: Chain, address: str) -> int:
    async with db.write() as conn:
        return (await add_wallet(conn, chain=chain, address=address)).id


async def test_defer_keeps_one_waiting_sync_per_wallet(db: Database, ledger: Ledger) -> None:
    """Deferring twice returns the same waiting job; another wallet gets its own."""
    first = await _add(db, Chain.SOLANA, ledger.solana_wallets[0])
    second = await _add(db, Chain.CARDANO, ledger.cardano_wallets[0])
    async with db.write() as conn:
        a = await defer_sync(conn, first)
        b = await defer_sync(conn, first)
        c = await defer_sync(conn, second)
    assert a == b
    assert c != a
    async with db.read() as conn:
        depth = await queue_depth(conn)
        job = await get_job(conn, a)
    assert depth["todo"] == 2
    assert job.task_name == "sync_wallet"
    assert job.args == {"wallet_id": first}


async def test_deferral_rolls_back_with_its_transaction(db: Database, ledger: Ledger) -> None:
    """A job deferred in a transaction that fails is not queued (it shares the caller's transaction)."""
    wallet_id = await _add(db, Chain.SOLANA, ledger.solana_wallets[1])

    class Abort(Exception):
        pass

    async def defer_then_fail() -> None:
        async with db.write() as conn:
            await defer_sync(conn, wallet_id)
            raise Abort

    with pytest.raises(Abort):
        await defer_then_fail()
    async with db.read() as conn:
        assert (await queue_depth(conn))["todo"] == 0


async def test_worker_runs_sync_jobs(
    db: Database, ledger: Ledger, sim_settings: Settings, database_url: str
) -> None:
    """A worker drains the queue: each wallet's job succeeds and its facts match the ledger."""
    wallets = {await _add(db, Chain.CARDANO, a): a for a in ledger.cardano_wallets[:2]}
    async with db.write() as conn:
        job_ids = [await defer_sync(conn, wallet_id) for wallet_id in wallets]
    async with open_services(sim_settings, database_url) as services:
        await run_worker(services, concurrency=2, wait=False, install_signal_handlers=False)
    async with db.read() as conn:
        statuses = [(await get_job(conn, job_id)).status for job_id in job_ids]
        for wallet_id, address in wallets.items():
            ids = (
                await conn.execute(
                    select(wallet_transactions.c.tx_id).where(wallet_transactions.c.wallet_id == wallet_id)
                )
            ).scalars()
            assert Counter(ids) == Counter(ledger.wallet_tx_ids(Chain.CARDANO, address))
    assert statuses == ["succeeded", "succeeded"]


async def test_failed_job_is_dead_lettered_with_its_error_and_can_be_retried(
    db: Database, ledger: Ledger, simulator: SimulatorServer, database_url: str, tmp_path: Path
) -> None:
    """A job that exhausts its attempts stays failed with a readable error; retry makes it succeed."""
    # The open breaker is persisted; a short cool-down lets the retry's half-open probe through.
    settings = simulator_settings(
        database_url, simulator, tmp_path, job_max_attempts=1, breaker_cooldown_s=0.1
    )
    wallet_id = await _add(db, Chain.CARDANO, ledger.cardano_wallets[1])
    async with db.write() as conn:
        job_id = await defer_sync(conn, wallet_id)
    simulator.set_faults(FaultConfig(providers={"blockfrost": FaultRule(malformed_rate=1.0)}))
    try:
        async with open_services(settings, database_url) as services:
            await run_worker(services, concurrency=1, wait=False, install_signal_handlers=False)
    finally:
        simulator.set_faults(FaultConfig())
    async with db.read() as conn:
        failed = await list_jobs(conn, status="failed")
        errors = list(
            (
                await conn.execute(select(job_failures.c.error).where(job_failures.c.job_id == job_id))
            ).scalars()
        )
    assert [job.id for job in failed] == [job_id]
    assert failed[0].last_error is not None
    assert "blockfrost" in failed[0].last_error
    assert len(errors) == 1

    retried = await retry_job(db, job_id)
    assert retried.status == "todo"
    assert retried.attempts == 0
    assert await retry_failed(db) == []  # nothing else is failed
    async with open_services(settings, database_url) as services:
        await run_worker(services, concurrency=1, wait=False, install_signal_handlers=False)
    async with db.read() as conn:
        assert (await get_job(conn, job_id)).status == "succeeded"
        state = (await conn.execute(select(sync_state).where(sync_state.c.wallet_id == wallet_id))).one()
    assert state.status == "ok"
    assert state.error is None


def _worker_env(database_url: str, simulator: SimulatorServer) -> dict[str, str]:
    return clean_env(
        DATABASE_URL=database_url,
        SOLANA_RPC_URLS=simulator.url("solana"),
        BLOCKFROST_URLS=simulator.url("blockfrost"),
        WALLETSYNC_SOLANA_RATE="10000",
        WALLETSYNC_SOLANA_BURST="10000",
        WALLETSYNC_SYNC_FETCH_CONCURRENCY="1",
        WALLETSYNC_SYNC_BATCH_SIZE="50",
        WALLETSYNC_WORKER_HEARTBEAT_INTERVAL="0.5",
        WALLETSYNC_WORKER_STALLED_AFTER="2",
        WALLETSYNC_AUTO_MIGRATE="false",
        WALLETSYNC_LOG_LEVEL="WARNING",
    )


@pytest.fixture
def spawn_worker(database_url: str, simulator: SimulatorServer) -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


def _start_worker(database_url: str, simulator: SimulatorServer) -> subprocess.Popen[bytes]:
    return start_walletsync(
        "worker",
        "--concurrency",
        "2",
        env=_worker_env(database_url, simulator),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def _wait_for(db: Database, wallet_id: int, predicate: str, timeout_s: float) -> tuple[str, int]:
    """Poll the wallet's sync state until `predicate` holds ("progress": some txs stored; "ok")."""
    deadline = time.monotonic() + timeout_s
    while True:
        async with db.read() as conn:
            row = (
                await conn.execute(
                    select(sync_state.c.status, sync_state.c.tx_count).where(
                        sync_state.c.wallet_id == wallet_id
                    )
                )
            ).one()
        if (predicate == "progress" and row.tx_count > 0) or (predicate == "ok" and row.status == "ok"):
            return row.status, row.tx_count
        if time.monotonic() > deadline:
            async with db.read() as conn:
                jobs = [
                    tuple(r)
                    for r in await conn.execute(
                        select(
                            procrastinate_jobs.c.id,
                            procrastinate_jobs.c.status,
                            procrastinate_jobs.c.attempts,
                            procrastinate_jobs.c.worker_id,
                        )
                    )
                ]
                failures = list((await conn.execute(select(job_failures.c.error))).scalars())
            raise AssertionError(
                f"wallet {wallet_id} never reached {predicate!r}: {row}; jobs {jobs}; failures {failures}"
            )
        await _pause()


async def _pause() -> None:
    import asyncio

    # Polling interval while another process works; the outcome, not the timing, is asserted.
    await asyncio.sleep(0.05)


@pytest.mark.slow
async def test_sigkilled_worker_mid_backfill_converges_after_restart(
    db: Database,
    ledger: Ledger,
    simulator: SimulatorServer,
    database_url: str,
    spawn_worker: list[subprocess.Popen[bytes]],
) -> None:
    """Kill -9 a worker mid-backfill; a new worker requeues the stalled job and converges exactly."""
    address = ledger.solana_wallets[3]  # 2,300 transactions
    expected = ledger.wallet_tx_ids(Chain.SOLANA, address)
    wallet_id = await _add(db, Chain.SOLANA, address)
    async with db.write() as conn:
        job_id = await defer_sync(conn, wallet_id)
    simulator.set_faults(FaultConfig(providers={"solana": FaultRule(latency_ms=15)}))
    try:
        first = _start_worker(database_url, simulator)
        spawn_worker.append(first)
        await _wait_for(db, wallet_id, "progress", timeout_s=60)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        async with db.read() as conn:
            partial = int(
                await conn.scalar(
                    select(func.count())
                    .select_from(wallet_transactions)
                    .where(wallet_transactions.c.wallet_id == wallet_id)
                )
                or 0
            )
            assert (await get_job(conn, job_id)).status == "doing"
        assert 0 < partial < len(expected)

        second = _start_worker(database_url, simulator)
        spawn_worker.append(second)
        await _wait_for(db, wallet_id, "ok", timeout_s=120)
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=60) == 0
    finally:
        simulator.set_faults(FaultConfig())
    async with db.read() as conn:
        ids = list(
            (
                await conn.execute(
                    select(wallet_transactions.c.tx_id).where(wallet_transactions.c.wallet_id == wallet_id)
                )
            ).scalars()
        )
        job = await get_job(conn, job_id)
        syncs = [
            j
            for j in await list_jobs(conn)
            if j.task_name == "sync_wallet" and j.args == {"wallet_id": wallet_id}
        ]
    assert Counter(ids) == Counter(expected)  # no gap, no duplicate
    # The killed worker's job is requeued and finishes, or (when a sync of this wallet was already
    # queued) it is superseded, not failed, and that waiting twin finishes from the same cursor.
    if job.status == "cancelled":
        assert job.last_error is not None
        assert job.last_error.startswith("Superseded: WorkerLost")
    else:
        assert job.status == "succeeded"
    assert "succeeded" in {j.status for j in syncs}


# --- deferral on one pooled connection (PostgreSQL switches to a generic plan after 5 executions) ---
async def _one_connection_db(database_url: str, settings: Settings) -> Database:
    """A Database whose pool holds exactly one connection (direct, prepared statements cached)."""
    single = settings.model_copy(update={"database_pool_size": 1, "database_max_overflow": 0})
    assert not single.database_pgbouncer  # a direct connection: asyncpg caches prepared statements
    return Database.from_settings(database_url, single)


async def _due_wallets(db: Database, n: int) -> list[int]:
    """`n` wallets whose next sync is due now (addresses are not validated here: only ids matter)."""
    async with db.write() as conn:
        ids = list(
            (
                await conn.execute(
                    insert(wallets)
                    .values([{"chain": "solana", "address": f"due{i:04d}"} for i in range(n)])
                    .returning(wallets.c.id)
                )
            ).scalars()
        )
        await conn.execute(
            insert(sync_state),
            [{"wallet_id": w, "status": "ok", "next_sync_at": datetime(2020, 1, 1, tzinfo=UTC)} for w in ids],
        )
    return ids


async def test_defer_twelve_times_on_one_pooled_connection(
    db: Database, database_url: str, settings: Settings
) -> None:
    """Deferral keeps working past the 5th execution of its prepared statement on one connection."""
    wallet_ids = await _due_wallets(db, 6)
    single = await _one_connection_db(database_url, settings)
    try:
        returned: list[int] = []
        for round_ in range(2):  # new jobs first, then the same wallets again (conflicts: same ids back)
            for wallet_id in wallet_ids:
                async with single.write() as conn:
                    returned.append(await defer_sync(conn, wallet_id))
            assert round_ == 1 or len(set(returned)) == len(wallet_ids)
    finally:
        await single.dispose()
    assert returned[6:] == returned[:6]
    async with db.read() as conn:
        assert (await queue_depth(conn))["todo"] == 6


async def test_sweep_defers_ten_due_wallets_on_one_connection(
    db: Database, database_url: str, settings: Settings
) -> None:
    """The periodic sweep queues a sync for each of 10 due wallets in one transaction on one connection."""
    wallet_ids = await _due_wallets(db, 10)
    single = settings.model_copy(update={"database_pool_size": 1, "database_max_overflow": 0})
    async with open_app(database_url) as app:
        sweep_job = await app.configure_task("sweep_due_wallets").defer_async(timestamp=0)
    async with open_services(single, database_url) as services:
        await run_worker(
            services, concurrency=1, queues=[MAINTENANCE_QUEUE], wait=False, install_signal_handlers=False
        )
    async with db.read() as conn:
        sweep = await get_job(conn, sweep_job)
        queued = [job for job in await list_jobs(conn, status="todo") if job.task_name == "sync_wallet"]
    assert (sweep.status, sweep.last_error) == ("succeeded", None)
    assert sorted(job.args["wallet_id"] for job in queued) == wallet_ids


async def test_ten_sweeps_on_one_pooled_connection_queue_every_wallet_once(
    db: Database, database_url: str, settings: Settings
) -> None:
    """Ten sweeps of 1,000 on one pooled connection (past the 5th execution, where PostgreSQL may switch
    to a generic plan) queue each of 10,000 due wallets exactly once, then find none left.

    How fast the sweep stays is bench/scale.py's `sweep_10k_s` (the generic plan made it 20-40 s)."""
    wallet_ids = await _due_wallets(db, 10_000)
    single = await _one_connection_db(database_url, settings)
    try:
        counts = [await sweep(single, now=datetime.now(UTC), limit=1_000) for _ in range(11)]
    finally:
        await single.dispose()
    assert counts == [1_000] * 10 + [0]
    async with db.read() as conn:
        queued = [job.args["wallet_id"] for job in await list_jobs(conn, status="todo", limit=20_000)]
    assert sorted(queued) == wallet_ids


async def test_sync_of_a_wallet_removed_meanwhile_finishes_as_a_no_op(
    db: Database, ledger: Ledger, sim_settings: Settings, database_url: str
) -> None:
    """Queued, then the wallet is removed: the job succeeds as skipped, with no failure and no retry."""
    wallet_id = await _add(db, Chain.CARDANO, ledger.cardano_wallets[2])
    async with db.write() as conn:
        job_id = await defer_sync(conn, wallet_id)
        await remove_wallet(conn, wallet_id)
    async with open_services(sim_settings, database_url) as services:
        await run_worker(services, concurrency=1, wait=False, install_signal_handlers=False)
    async with db.read() as conn:
        job = await get_job(conn, job_id)
        failures = (await conn.execute(select(func.count()).select_from(job_failures))).scalar_one()
    assert (job.status, job.attempts, job.last_error, failures) == ("succeeded", 1, None, 0)  # ran once
