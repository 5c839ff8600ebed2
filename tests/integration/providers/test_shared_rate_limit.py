"""The Redis token bucket is shared: two clients (two connections, as two workers would have) stay under one limit."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from tests.unit.providers.client_fakes import bucket_violations
from walletsync.config import load_settings
from walletsync.providers.clients import build_provider_clients
from walletsync.providers.ratelimit import RedisTokenBucket, bucket_key

pytestmark = pytest.mark.redis

RATE, BURST, PER_CLIENT = 40.0, 5, 40


async def test_two_clients_together_never_exceed_rate_and_burst(redis_url: str, tmp_path: Path) -> None:
    """80 calls from two clients sharing a Redis bucket arrive as one (40/s, burst 5) bucket allows."""
    arrivals: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        arrivals.append(time.monotonic())
        return httpx.Response(200, json={"jsonrpc": "2.0", "id": 1, "result": 0})

    namespace = f"test{uuid.uuid4().hex[:12]}"
    settings = load_settings(
        solana_rpc_urls="http://rpc-a.test,http://rpc-b.test",
        solana_rate=RATE,
        solana_burst=BURST,
        cache_namespace=namespace,
        data_dir=tmp_path,
    )
    transport = httpx.MockTransport(handler)
    worker_a = build_provider_clients(settings, redis_url=redis_url, transport=transport)
    worker_b = build_provider_clients(settings, redis_url=redis_url, transport=transport)
    try:
        client_a, client_b = worker_a.get("solana"), worker_b.get("solana")
        started = time.monotonic()
        await asyncio.gather(
            *(client_a.post_json("", body={"method": "getSlot"}) for _ in range(PER_CLIENT)),
            *(client_b.post_json("", body={"method": "getSlot"}) for _ in range(PER_CLIENT)),
        )
        elapsed = time.monotonic() - started
    finally:
        await worker_a.aclose()
        await worker_b.aclose()
        redis = Redis.from_url(redis_url)
        await redis.delete(bucket_key("solana", None, settings.solana_rpc_urls, namespace=namespace))
        await redis.aclose()

    assert len(arrivals) == 2 * PER_CLIENT
    assert bucket_violations([(t, 1) for t in arrivals], RATE, BURST) == 0
    # Shared, not per client: two separate buckets would let 80 calls through in about half this time.
    assert elapsed >= (2 * PER_CLIENT - BURST) / RATE
    assert elapsed < 2 * (2 * PER_CLIENT) / RATE  # and the limiter is not needlessly slow


async def test_bucket_state_lives_in_redis_under_a_hashed_key(redis_url: str) -> None:
    """The bucket's key names the provider, carries no API key, and expires once idle."""
    api_key = f"secret-{uuid.uuid4().hex}"
    key = bucket_key("blockfrost", api_key, namespace="test")
    redis = Redis.from_url(redis_url)
    try:
        bucket = RedisTokenBucket(redis, key, rate=10.0, burst=3)
        assert await bucket.acquire() == 0.0
        assert not bucket.using_fallback
        assert api_key not in key
        assert await redis.exists(key) == 1
        ttl_ms = await redis.pttl(key)
        assert 0 < ttl_ms <= 1200  # TAT - now (one interval) + 1 s of slack
        # The first calls pass, the burst-th waits: the bucket arithmetic runs in Redis.
        assert await bucket.acquire() == 0.0
        wait_reply = await bucket._reserve_shared(1)
        assert wait_reply is not None
        assert 0.0 < wait_reply <= 1 / (10.0 * 0.97) + 0.01
    finally:
        await redis.delete(key)
        await redis.aclose()


async def test_redis_bucket_charges_a_large_batch_as_a_debt(redis_url: str) -> None:
    """In Redis too, a call above the burst needs a full bucket and the next call waits off its debt."""
    key = bucket_key("solana", f"debt-{uuid.uuid4().hex}", namespace="test")
    redis = Redis.from_url(redis_url)
    try:
        bucket = RedisTokenBucket(redis, key, rate=10.0, burst=3, rate_margin=0.0)  # effective burst 2
        assert await bucket._reserve_shared(5) == 0.0
        wait = await bucket._reserve_shared(1)
        assert wait is not None
        assert wait == pytest.approx(0.4, abs=0.01)  # (5 + 1 - 2) tokens at 10/s
    finally:
        await redis.delete(key)
        await redis.aclose()
