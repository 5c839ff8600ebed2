"""Reads on a real streaming replica (tests/pgcluster.py): lag, outages, and no stale data after a write.

The replica is a hot standby made with `pg_basebackup -R`; pausing its replay makes it lag at will.
The expected balances and transaction counts come from the simulator's own ledger.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, select

from tests.integration.indexing.conftest import simulator_settings
from tests.pgcluster import PgCluster
from walletsync.api.app import create_app
from walletsync.api.keys import create_key
from walletsync.cache import CacheLayer
from walletsync.config import Chain, load_settings
from walletsync.db import migrate
from walletsync.db.engine import Database
from walletsync.db.models import wallets
from walletsync.indexing.sync import sync_wallet
from walletsync.services import Services, open_services
from walletsync.simulator.ledger import Ledger
from walletsync.simulator.server import SimulatorServer
from walletsync.wallets.repository import add_wallet


def _sample(metric: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(metric, labels) or 0.0


@pytest.fixture(scope="module")
def cluster_db(pg_cluster: PgCluster) -> Iterator[tuple[str, str]]:
    """A migrated database on the session cluster: (primary URL, replica URL)."""
    assert pg_cluster.replica is not None
    name = f"ws_replica_{uuid.uuid4().hex[:8]}"
    primary = pg_cluster.create_database(name)
    migrate.upgrade(primary)
    pg_cluster.wait_replayed()
    yield primary, pg_cluster.replica.url(name)
    pg_cluster.primary.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def ledger() -> Ledger:
    return Ledger(14, solana_wallets=2, cardano_wallets=1)


@pytest.fixture(scope="module")
def simulator(ledger: Ledger) -> Iterator[SimulatorServer]:
    with SimulatorServer(ledger) as server:
        yield server


@pytest.fixture
async def topo(
    cluster_db: tuple[str, str], simulator: SimulatorServer, redis_url: str, tmp_path: Path
) -> AsyncIterator[tuple[Services, httpx.AsyncClient]]:
    """Services (worker side) and an API client, both reading from the replica, sharing Redis."""
    primary, replica = cluster_db
    settings = simulator_settings(
        primary,
        simulator,
        tmp_path / "data",
        database_replica_urls=[replica],
        redis_url=redis_url,
        cache_namespace=f"wstest-{uuid.uuid4().hex[:10]}",
        public_reads=True,
        api_rate_limit="100000/minute",
    )
    async with open_services(settings, primary) as services:
        async with services.db.write() as conn:
            await conn.execute(wallets.delete())
        app = create_app(settings, services=services)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
        ):
            yield services, client
        layer = app.state.walletsync.cache
        await layer.clear_namespace()


def _ledger_balances(ledger: Ledger, address: str) -> dict[str, str]:
    expected = {"native": ledger.solana_lamports(address), **ledger.solana_token_balances(address)}
    return {asset: str(amount) for asset, amount in expected.items() if amount != 0}


async def _balances(client: httpx.AsyncClient, wallet_id: int) -> dict[str, str]:
    response = await client.get(f"/v1/wallets/{wallet_id}/balances")
    assert response.status_code == 200, response.text
    return {b["asset_key"]: b["amount"] for b in response.json()["balances"] if b["kind"] == "liquid"}


async def _tx_count(client: httpx.AsyncClient, wallet_id: int) -> int:
    response = await client.get(f"/v1/wallets/{wallet_id}/transactions", params={"limit": 500})
    assert response.status_code == 200, response.text
    return len(response.json()["items"])


def _replica_tx_rows(replica_url: str, wallet_id: int) -> int:
    with psycopg.connect(replica_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM wallet_transactions WHERE wallet_id = %s", (wallet_id,)
        ).fetchone()
        assert row is not None
        return int(row[0])


@pytest.mark.redis
async def test_no_stale_answer_or_cache_entry_while_replay_is_paused(
    topo: tuple[Services, httpx.AsyncClient],
    pg_cluster: PgCluster,
    cluster_db: tuple[str, str],
    ledger: Ledger,
) -> None:
    """Write (a real sync) with replay paused, read, resume: every answer and the cache are current."""
    services, client = topo
    address, other_address = ledger.wallets(Chain.SOLANA)[:2]
    async with services.db.write() as conn:
        wallet = await add_wallet(conn, chain=Chain.SOLANA, address=address)
        other = await add_wallet(conn, chain=Chain.SOLANA, address=other_address)
    pg_cluster.wait_replayed()

    replica_reads = _sample("walletsync_db_reads_total", target="replica")
    assert await _balances(client, wallet.id) == {}  # not synced yet; now cached (empty)
    assert _sample("walletsync_db_reads_total", target="replica") > replica_reads  # served by the replica

    pg_cluster.pause_replay()
    try:
        report = await sync_wallet(
            services.db,
            wallet.id,
            adapters=services.adapters,
            settings=services.settings,
            on_new_transactions=services.invalidate_wallet,
        )
        assert report.new_transactions == len(ledger.wallet_tx_ids(Chain.SOLANA, address)) > 0
        assert _replica_tx_rows(cluster_db[1], wallet.id) == 0  # the replica really is behind

        expected = _ledger_balances(ledger, address)
        for _ in range(3):  # the first read fills the cache, the next ones are served from it
            assert await _balances(client, wallet.id) == expected
            assert await _tx_count(client, wallet.id) == report.new_transactions

        # A wallet with no recent write still reads from the (lagging but within bounds) replica.
        replica_reads = _sample("walletsync_db_reads_total", target="replica")
        assert (await client.get(f"/v1/wallets/{other.id}")).status_code == 200
        assert _sample("walletsync_db_reads_total", target="replica") > replica_reads
    finally:
        pg_cluster.resume_replay()
    pg_cluster.wait_replayed()

    hits = _sample("walletsync_cache_requests_total", name="balances", result="hit")
    assert await _balances(client, wallet.id) == expected  # the entry filled while paused, current
    assert _sample("walletsync_cache_requests_total", name="balances", result="hit") == hits + 1


async def test_readyz_names_a_lagging_or_down_replica(pg_cluster_factory: Any, tmp_path: Path) -> None:
    """Replay paused beyond REPLICA_MAX_LAG: /readyz says by how much and reads go to the primary;
    replica stopped: /readyz says down; the instance stays ready (replicas are not critical)."""
    cluster: PgCluster = pg_cluster_factory(replica=True)
    assert cluster.replica is not None
    primary_url = cluster.create_database("app")
    migrate.upgrade(primary_url)
    cluster.wait_replayed()
    settings = load_settings(
        database_url=primary_url,
        database_replica_urls=[cluster.replica.url("app")],
        replica_max_lag_s=1.0,
        data_dir=tmp_path,
        redis_url=None,
        auto_migrate=False,
    )
    db = Database.from_settings(primary_url, settings)
    async with db.write() as conn:  # /readyz shows its details (hosts, lag) to an admin key only
        admin = {"Authorization": f"Bearer {(await create_key(conn, name='readyz', scope='admin')).key}"}
    app = create_app(settings, database=db)
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
        ):

            async def replica_check() -> dict[str, Any]:
                body = (await client.get("/readyz", headers=admin)).json()
                assert body["status"] != "not_ready", body
                (check,) = [c for c in body["checks"] if c["name"] == "replica.replica0"]
                return check

            healthy = await replica_check()
            assert healthy["ok"] is True
            # 0.0 unless background WAL (autovacuum, a checkpoint) arrived a moment before the probe
            assert re.fullmatch(
                rf"127\.0\.0\.1:{cluster.replica.port}/app: ok, lag \d+\.\d s", healthy["detail"]
            )

            cluster.pause_replay()
            cluster.primary.execute("CREATE TABLE marker (id int)", database="app")
            await asyncio.sleep(1.6)
            lagging = await replica_check()
            assert lagging["ok"] is False
            assert "lagging" in lagging["detail"]
            assert "(> WALLETSYNC_REPLICA_MAX_LAG 1 s), replay paused, skipped" in lagging["detail"]
            lag = float(lagging["detail"].split("lagging ")[1].split(" s")[0])
            assert 1.5 <= lag < 120  # since the last commit replayed before the pause
            async with db.read() as conn:
                assert conn.engine is db.primary
                assert await conn.scalar(select(func.pg_is_in_recovery())) is False

            cluster.resume_replay()
            cluster.wait_replayed()
            assert (await replica_check())["ok"] is True

            cluster.replica.stop()
            down = await replica_check()
            assert down["ok"] is False
            assert down["detail"].startswith(f"127.0.0.1:{cluster.replica.port}/app: down (")
            assert down["detail"].endswith("), skipped")
            async with db.read() as conn:
                assert conn.engine is db.primary
    finally:
        await db.dispose()


@pytest.mark.parametrize("backend", ["memory", "redis"])
async def test_watermark_only_rises(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """Invalidations recorded out of order leave the highest WAL position, never a lower one."""
    redis_url = request.getfixturevalue("redis_url") if backend == "redis" else None
    settings = load_settings(
        data_dir=tmp_path, redis_url=redis_url, cache_namespace=f"wstest-{uuid.uuid4().hex[:10]}"
    )
    layer = CacheLayer(settings)
    positions = iter([5_000, 3_000, 9_000, 9_000])

    async def write_position() -> int:
        return next(positions)

    try:
        assert await layer.wallet_watermark(7) == 0  # nothing tracked yet
        layer.track_writes(write_position)
        assert await layer.wallet_watermark(7) == 0
        expected = [5_000, 5_000, 9_000, 9_000]
        for want in expected:
            await layer.invalidate_wallet(7)
            assert await layer.wallet_watermark(7) == want
        assert await layer.wallet_watermark(8) == 0
    finally:
        await layer.clear_namespace()
        await layer.close()
