"""Redis killed during a sync and during API reads: no errors, /readyz degraded, recovery after restart.

A private redis-server (the shared Redis is never stopped), a real worker in this process, the
simulator in its own server, the real app over ASGI.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from tests.integration.api.conftest import OwnRedis
from tests.integration.indexing.test_jobs import _add
from walletsync.api.app import create_app
from walletsync.api.keys import create_key, key_memo
from walletsync.config import Chain
from walletsync.db.engine import Database
from walletsync.db.models import sync_state
from walletsync.jobs.api import defer_sync, get_job
from walletsync.jobs.worker import run_worker
from walletsync.services import open_services
from walletsync.simulator.faults import FaultConfig, FaultRule
from walletsync.simulator.ledger import Ledger
from walletsync.simulator.server import SimulatorServer

from .conftest import simulator_settings
from .stored import linked_tx_ids


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.mark.slow
async def test_redis_killed_during_a_sync_and_api_reads(
    db: Database,
    ledger: Ledger,
    simulator: SimulatorServer,
    database_url: str,
    tmp_path: Path,
    own_redis: OwnRedis,
) -> None:
    settings = simulator_settings(
        database_url,
        simulator,
        tmp_path,
        redis_url=own_redis.url,
        cache_namespace=f"wstest-{uuid.uuid4().hex[:10]}",
        api_rate_limit="100000/minute",
    )
    address = ledger.solana_wallets[3]  # 2,300 transactions
    wallet_id = await _add(db, Chain.SOLANA, address)
    async with db.write() as conn:
        job_id = await defer_sync(conn, wallet_id)
        key = (await create_key(conn, name="reader", scope="read")).key
    headers = {"Authorization": f"Bearer {key}"}
    key_memo().clear()
    simulator.set_faults(FaultConfig(providers={"solana": FaultRule(latency_ms=15)}))
    app = create_app(settings, database=db)
    statuses: Counter[int] = Counter()
    try:
        async with (
            open_services(settings, database_url) as services,
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
        ):
            worker = asyncio.create_task(run_worker(services, concurrency=2, install_signal_handlers=False))
            try:
                deadline = time.monotonic() + 60
                while not await linked_tx_ids(db, wallet_id):
                    assert time.monotonic() < deadline, "the sync never stored a batch"
                    await asyncio.sleep(0.1)  # polling the worker task; outcomes are asserted

                own_redis.stop()  # mid-sync and between reads
                for _ in range(20):
                    for path in (f"/v1/wallets/{wallet_id}", f"/v1/wallets/{wallet_id}/balances"):
                        statuses[(await client.get(path, headers=headers)).status_code] += 1
                ready = (await client.get("/readyz")).json()
                cache_check = next(c for c in ready["checks"] if c["name"].startswith("cache"))
                assert ready["status"] == "degraded"
                assert not cache_check["ok"]

                deadline = time.monotonic() + 240
                while True:
                    async with db.read() as conn:
                        state = (
                            await conn.execute(
                                select(sync_state.c.status).where(sync_state.c.wallet_id == wallet_id)
                            )
                        ).scalar_one()
                    if state == "ok":
                        break
                    assert time.monotonic() < deadline, "the sync did not finish without Redis"
                    await asyncio.sleep(0.2)

                own_redis.start()
                deadline = time.monotonic() + 30
                while True:
                    ready = (await client.get("/readyz")).json()
                    if next(c for c in ready["checks"] if c["name"].startswith("cache"))["ok"]:
                        break
                    assert time.monotonic() < deadline, "the cache did not recover after Redis restarted"
                    await asyncio.sleep(0.5)
                assert (await client.get(f"/v1/wallets/{wallet_id}", headers=headers)).status_code == 200
            finally:
                worker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker
    finally:
        simulator.set_faults(FaultConfig())
        key_memo().clear()
    assert statuses == Counter({200: 40})  # 0 errors while Redis was down
    async with db.read() as conn:
        assert (await get_job(conn, job_id)).status == "succeeded"
    assert Counter(await linked_tx_ids(db, wallet_id)) == Counter(ledger.wallet_tx_ids(Chain.SOLANA, address))
