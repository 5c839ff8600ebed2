"""`/healthz`, `/readyz` and `/metrics`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, insert, update

from tests.integration.api.conftest import T0, Api, Keys, seed_wallet_history
from walletsync.config import Settings
from walletsync.db.engine import Database
from walletsync.db.models import provider_endpoints, sync_state
from walletsync.jobs.tables import procrastinate_workers

pytestmark = pytest.mark.redis


def _checks(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in body["checks"]}


async def test_healthz(api: Api) -> None:
    """/healthz answers 200 without a key."""
    response = await api.client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_ready_with_a_live_worker(api: Api, keys: Keys) -> None:
    """Database up, migrations at head, Redis answering and a fresh worker heartbeat: ready, 200."""
    async with api.db.write() as conn:
        await conn.execute(insert(procrastinate_workers).values(last_heartbeat=func.now()))
    response = await api.client.get("/readyz", headers=keys.admin)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready"
    checks = _checks(body)
    assert checks["database"]["ok"]
    assert checks["database"]["critical"]
    assert checks["migrations"]["ok"]
    assert "at head" in checks["migrations"]["detail"]
    assert checks["cache.redis"]["ok"]
    assert checks["worker"]["ok"]


async def test_readyz_degraded_without_worker_and_with_open_breakers(api: Api, keys: Keys) -> None:
    """No worker heartbeat and every endpoint of a provider open: degraded (200), reasons given, no URLs."""
    async with api.db.write() as conn:
        await conn.execute(
            insert(provider_endpoints).values(
                provider="solana", url="https://rpc.example/?api-key=SECRET", breaker_state="open"
            )
        )
        await conn.execute(
            insert(procrastinate_workers).values(last_heartbeat=func.now() - timedelta(minutes=10))
        )
    response = await api.client.get("/readyz", headers=keys.admin)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    checks = _checks(body)
    assert not checks["worker"]["ok"]
    assert "heartbeat" in checks["worker"]["detail"]
    assert not checks["providers"]["ok"]
    assert "solana" in checks["providers"]["detail"]
    assert "SECRET" not in response.text


async def test_readyz_shows_details_only_to_an_admin_key(
    make_api: Callable[..., Any], api_settings: Settings, keys: Keys
) -> None:
    """Without a key (or with a read key) /readyz says ok or not per component, never hosts or errors."""
    broken = api_settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    api: Api = await make_api(broken)
    for headers in ({}, keys.read, {"Authorization": "Bearer wsk_not-a-key"}):
        response = await api.client.get("/readyz", headers=headers)
        assert response.status_code == 200
        checks = _checks(response.json())
        assert all(check["detail"] is None for check in checks.values())
        assert not checks["cache.redis"]["ok"]
        assert "127.0.0.1" not in response.text
        assert "Connection" not in response.text
    admin = _checks((await api.client.get("/readyz", headers=keys.admin)).json())
    assert "127.0.0.1:1" in str(admin["cache.redis"]["detail"])


async def test_readyz_not_ready_when_unmigrated(
    make_api: Callable[..., Any], api_settings: Settings, empty_database_url: str
) -> None:
    """On a database without the schema, /readyz is 503 naming the migrations."""
    empty = Database.from_settings(empty_database_url, api_settings)
    try:
        api: Api = await make_api(api_settings, database=empty)
        response = await api.client.get("/readyz")
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "not_ready"
        assert not _checks(body)["migrations"]["ok"]
        assert _checks(body)["migrations"]["detail"] is None  # no key: no details
    finally:
        await empty.dispose()


async def test_readyz_not_ready_when_database_unreachable(
    make_api: Callable[..., Any], api_settings: Settings
) -> None:
    """With the primary unreachable, /readyz is 503 with the reason; /healthz still 200."""
    dead = Database.from_settings("postgresql://postgres@127.0.0.1:1/nothing", api_settings)
    try:
        api: Api = await make_api(api_settings, database=dead)
        response = await api.client.get("/readyz")
        assert response.status_code == 503
        database = _checks(response.json())["database"]
        assert not database["ok"]
        assert database["detail"] is None  # no key: no details
        # An admin key cannot be checked on a dead database: answered like no key, never a 401/500.
        with_key = await api.client.get("/readyz", headers={"Authorization": "Bearer wsk_x"})
        assert with_key.status_code == 503
        assert _checks(with_key.json())["database"]["detail"] is None
        assert (await api.client.get("/healthz")).status_code == 200
    finally:
        await dead.dispose()


def _sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_metrics_latency_by_route_template_and_cache_counts(api: Api, keys: Keys) -> None:
    """Latency is labelled with the route template (never the raw path); balance reads count misses and hits."""
    seeded = await seed_wallet_history(api.db, n_txs=2)
    labels = {"method": "GET", "route": "/v1/wallets/{wallet_id}/balances", "status": "200"}
    before_count = _sample("walletsync_http_request_duration_seconds_count", labels)
    before_hit = _sample("walletsync_cache_requests_total", {"name": "balances", "result": "hit"})
    before_miss = _sample("walletsync_cache_requests_total", {"name": "balances", "result": "miss"})
    for _ in range(3):
        assert (
            await api.client.get(f"/v1/wallets/{seeded.wallet_id}/balances", headers=keys.read)
        ).status_code == 200

    assert _sample("walletsync_http_request_duration_seconds_count", labels) == before_count + 3
    assert (
        _sample("walletsync_cache_requests_total", {"name": "balances", "result": "miss"}) == before_miss + 1
    )
    assert _sample("walletsync_cache_requests_total", {"name": "balances", "result": "hit"}) == before_hit + 2

    text = (await api.client.get("/metrics", headers=keys.read)).text
    assert 'route="/v1/wallets/{wallet_id}/balances"' in text
    assert f"/v1/wallets/{seeded.wallet_id}/balances" not in text


async def test_metrics_queue_depth_pool_and_sync_lag(api: Api, keys: Keys) -> None:
    """/metrics reports jobs by status, pool connections in use, and sync lag per chain."""
    seeded = await seed_wallet_history(api.db, n_txs=1)
    async with api.db.write() as conn:
        await conn.execute(
            update(sync_state).where(sync_state.c.wallet_id == seeded.wallet_id).values(last_synced_at=T0)
        )
    assert (
        await api.client.post(f"/v1/wallets/{seeded.wallet_id}/sync", headers=keys.write)
    ).status_code == 202
    response = await api.client.get("/metrics", headers=keys.read)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    lines = response.text.splitlines()
    assert 'walletsync_jobs{status="todo"} 1.0' in lines
    assert 'walletsync_jobs{status="failed"} 0.0' in lines
    assert any(line.startswith('walletsync_db_pool_in_use{pool="primary"}') for line in lines)
    lag = next(line for line in lines if line.startswith('walletsync_sync_lag_seconds{chain="solana"}'))
    assert float(lag.split()[-1]) > 3600  # T0 is long ago
    assert 'walletsync_sync_never_synced_wallets{chain="solana"} 0.0' in lines


async def test_metrics_need_a_key_unless_public_and_docs_can_be_turned_off(
    make_api: Callable[..., Any], api_settings: Settings, keys: Keys
) -> None:
    """Defaults are safe on a public bind: /metrics asks for a key; both switches do what they say."""
    default: Api = await make_api(api_settings)
    assert (await default.client.get("/metrics")).status_code == 401
    assert (await default.client.get("/metrics", headers=keys.read)).status_code == 200
    assert (await default.client.get("/docs")).status_code == 200
    switched: Api = await make_api(
        api_settings.model_copy(update={"metrics_public": True, "docs_enabled": False})
    )
    assert (await switched.client.get("/metrics")).status_code == 200
    assert (await switched.client.get("/docs")).status_code == 404
