"""The cache through the API: versioned keys, single-flight, invalidation after a real sync, Redis
stopped mid-test (a private redis-server this test kills; the shared Redis is never touched), and
`WALLETSYNC_CACHE=off`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from prometheus_client import REGISTRY
from sqlalchemy import event, insert, select

from tests.integration.api.conftest import Api, Keys, OwnRedis, seed_wallet_history
from walletsync.config import Settings
from walletsync.db.engine import Database
from walletsync.db.models import balance_deltas, transactions, wallet_transactions

pytestmark = pytest.mark.redis


def _sample(metric: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(metric, labels) or 0.0


class QueryCounter:
    """Counts balance reads the database actually runs (an engine event, not a mock): the current
    balances table, or a sum over the deltas for a point in time."""

    def __init__(self, db: Database) -> None:
        self.engine = db.primary.sync_engine
        self.count = 0

    def _on_execute(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "FROM current_balances" in statement or "sum(balance_deltas.amount)" in statement:
            self.count += 1

    def __enter__(self) -> QueryCounter:
        event.listen(self.engine, "before_cursor_execute", self._on_execute)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._on_execute)


@pytest.fixture
def count_balance_queries(db: Database) -> Iterator[QueryCounter]:
    with QueryCounter(db) as counter:
        yield counter


async def _add_tx(db: Database, wallet_id: int, asset_id: int, amount: int, tx_id: str) -> None:
    async with db.write() as conn:
        await conn.execute(
            insert(transactions).values(chain="solana", tx_id=tx_id, height=99999, fee=5000, success=True)
        )
        await conn.execute(
            insert(wallet_transactions).values(wallet_id=wallet_id, chain="solana", tx_id=tx_id, height=99999)
        )
        await conn.execute(
            insert(balance_deltas).values(
                wallet_id=wallet_id,
                chain="solana",
                tx_id=tx_id,
                asset_id=asset_id,
                amount=amount,
                height=99999,
            )
        )


def _native(body: dict[str, Any]) -> str:
    return next(b["amount"] for b in body["balances"] if b["asset_key"] == "native")


async def test_cached_until_invalidated_and_keys_are_versioned(
    api: Api, keys: Keys, count_balance_queries: QueryCounter
) -> None:
    """Balances are served from Redis (stale while facts change), fresh right after invalidation."""
    seeded = await seed_wallet_history(api.db, n_txs=2)
    url = f"/v1/wallets/{seeded.wallet_id}/balances"
    first = (await api.client.get(url, headers=keys.read)).json()
    assert _native(first) == "2000000"
    await _add_tx(api.db, seeded.wallet_id, seeded.native_id, 500, "late-tx")
    assert _native((await api.client.get(url, headers=keys.read)).json()) == "2000000"  # cached
    assert count_balance_queries.count == 1

    await api.state.cache.invalidate_wallet(seeded.wallet_id)
    assert _native((await api.client.get(url, headers=keys.read)).json()) == "2000500"
    assert count_balance_queries.count == 2

    client = aioredis.Redis.from_url(api.settings.redis_url)
    try:
        names = sorted([k.decode() async for k in client.scan_iter(f"{api.settings.cache_namespace}:*")])
    finally:
        await client.aclose()
    ns = api.settings.cache_namespace
    assert f"{ns}:v1:balances:{seeded.wallet_id}:now" in names
    assert f"{ns}:v1:wallet-gen:{seeded.wallet_id}" in names


async def test_deleting_a_wallet_invalidates_its_cache(api: Api, keys: Keys) -> None:
    """After DELETE, the cached balances of that wallet are not served: the read is a 404."""
    seeded = await seed_wallet_history(api.db, n_txs=1)
    url = f"/v1/wallets/{seeded.wallet_id}/balances"
    assert (await api.client.get(url, headers=keys.read)).status_code == 200
    assert (await api.client.delete(f"/v1/wallets/{seeded.wallet_id}", headers=keys.write)).status_code == 204
    assert (await api.client.get(url, headers=keys.read)).status_code == 404


@pytest.mark.parametrize("backend", ["redis", "memory"])
async def test_a_burst_of_misses_runs_one_query(
    make_api: Callable[..., Any],
    api_settings: Settings,
    keys: Keys,
    count_balance_queries: QueryCounter,
    backend: str,
) -> None:
    """50 concurrent reads of a cold key run the balance query once; the others wait for it."""
    settings = api_settings if backend == "redis" else api_settings.model_copy(update={"redis_url": None})
    api: Api = await make_api(settings)
    seeded = await seed_wallet_history(api.db, n_txs=5)
    miss0 = _sample("walletsync_cache_requests_total", name="balances", result="miss")
    coalesced0 = _sample("walletsync_cache_requests_total", name="balances", result="coalesced")
    responses = await asyncio.gather(
        *(api.client.get(f"/v1/wallets/{seeded.wallet_id}/balances", headers=keys.read) for _ in range(50))
    )
    assert {r.status_code for r in responses} == {200}
    assert len({r.content for r in responses}) == 1
    assert count_balance_queries.count == 1
    assert _sample("walletsync_cache_requests_total", name="balances", result="miss") == miss0 + 1
    assert _sample("walletsync_cache_requests_total", name="balances", result="coalesced") <= coalesced0 + 49


async def test_redis_stopped_mid_test_keeps_serving_from_the_database(
    make_api: Callable[..., Any], api_settings: Settings, keys: Keys, own_redis: OwnRedis
) -> None:
    """With Redis killed, reads and writes still answer 200/201 with correct data; /readyz and metrics
    show the fault; when Redis is back, the cache is used again."""
    api: Api = await make_api(api_settings.model_copy(update={"redis_url": own_redis.url}))
    seeded = await seed_wallet_history(api.db, n_txs=3)
    url = f"/v1/wallets/{seeded.wallet_id}/balances"
    cached = await api.client.get(url, headers=keys.read)
    assert cached.status_code == 200
    errors0 = _sample("walletsync_cache_errors_total", operation="get")
    bypass0 = _sample("walletsync_cache_requests_total", name="balances", result="bypass")

    own_redis.stop()
    await _add_tx(api.db, seeded.wallet_id, seeded.native_id, 7, "while-redis-down")
    for _ in range(5):
        response = await api.client.get(url, headers=keys.read)
        assert response.status_code == 200
        assert _native(response.json()) == "3000007"  # from the database, not a stale cache
    created = await api.client.post(
        "/v1/wallets",
        json={"chain": "solana", "address": "So11111111111111111111111111111111111111112"},
        headers=keys.write,
    )
    assert created.status_code == 201  # the rate limiter fell back to memory

    assert _sample("walletsync_cache_errors_total", operation="get") >= errors0 + 1
    assert _sample("walletsync_cache_requests_total", name="balances", result="bypass") >= bypass0 + 5
    assert _sample("walletsync_cache_backend_up") == 0.0
    ready = await api.client.get("/readyz", headers=keys.admin)  # details: admin only
    assert ready.status_code == 200  # Redis is not critical: the API still serves
    cache_check = next(c for c in ready.json()["checks"] if c["name"] == "cache.redis")
    assert not cache_check["ok"]
    assert "serving from the database" in cache_check["detail"]

    own_redis.start()  # same port, empty
    ready = await api.client.get("/readyz")
    assert next(c for c in ready.json()["checks"] if c["name"] == "cache.redis")["ok"]
    assert _sample("walletsync_cache_backend_up") == 1.0
    hits0 = _sample("walletsync_cache_requests_total", name="balances", result="hit")
    assert _native((await api.client.get(url, headers=keys.read)).json()) == "3000007"
    assert _native((await api.client.get(url, headers=keys.read)).json()) == "3000007"
    assert _sample("walletsync_cache_requests_total", name="balances", result="hit") == hits0 + 1


async def test_cache_off_reads_the_database_every_time(
    make_api: Callable[..., Any], api_settings: Settings, keys: Keys, count_balance_queries: QueryCounter
) -> None:
    """With WALLETSYNC_CACHE=off every read queries the database and sees new facts at once."""
    api: Api = await make_api(api_settings.model_copy(update={"cache_enabled": False}))
    seeded = await seed_wallet_history(api.db, n_txs=1)
    url = f"/v1/wallets/{seeded.wallet_id}/balances"
    assert _native((await api.client.get(url, headers=keys.read)).json()) == "1000000"
    await _add_tx(api.db, seeded.wallet_id, seeded.native_id, 1, "fresh")
    assert _native((await api.client.get(url, headers=keys.read)).json()) == "1000001"
    assert count_balance_queries.count == 2
    ready = (await api.client.get("/readyz")).json()
    assert next(c for c in ready["checks"] if c["name"] == "cache.off")["ok"]


async def test_sync_invalidates_the_wallets_cache(
    api_settings: Settings, database_url: str, db: Database, keys: Keys
) -> None:
    """A real sync (simulator -> indexer) of a wallet whose empty balances are cached makes the next
    read show the synced balances, through the indexer's `invalidate_wallet` call."""
    import httpx

    from walletsync.api.app import create_app
    from walletsync.indexing.sync import sync_wallet
    from walletsync.services import open_services
    from walletsync.simulator import Ledger, SimulatorServer

    ledger = Ledger(seed=5, solana_wallets=0, cardano_wallets=0, exact_solana_wallets=[6])
    address = ledger.solana_wallets[0]
    with SimulatorServer(ledger) as sim:
        settings = api_settings.model_copy(update={"solana_rpc_urls": [sim.url("solana")]})
        async with open_services(settings, database_url, application_name="walletsync-test") as services:
            app = create_app(settings, services=services)
            async with (
                app.router.lifespan_context(app),
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app), base_url="http://testserver"
                ) as client,
            ):
                created = await client.post(
                    "/v1/wallets", json={"chain": "solana", "address": address}, headers=keys.write
                )
                wallet_id = created.json()["id"]
                url = f"/v1/wallets/{wallet_id}/balances"
                assert (await client.get(url, headers=keys.read)).json()["balances"] == []
                assert (await client.get(url, headers=keys.read)).json()["balances"] == []  # now cached

                report = await sync_wallet(
                    services.db,
                    wallet_id,
                    adapters=services.adapters,
                    settings=settings,
                    on_new_transactions=services.invalidate_wallet,
                )
                assert report.new_transactions > 0
                body = (await client.get(url, headers=keys.read)).json()
                await app.state.walletsync.cache.clear_namespace()
    assert _native(body) == str(ledger.solana_lamports(address))
    async with db.read() as conn:
        stored = (await conn.execute(select(wallet_transactions.c.tx_id))).scalars().all()
    assert set(stored) == ledger.wallet_tx_ids("solana", address)
