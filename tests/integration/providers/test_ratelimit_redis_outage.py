"""With Redis down each process paces at its share of a provider's limit; Redis is used again at once.

A private redis-server (killed and restarted by the test; the shared Redis is never touched).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from tests.integration.api.conftest import FakeClock, OwnRedis
from walletsync.providers.ratelimit import RedisTokenBucket


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path)
    server.start()
    yield server
    server.stop()


async def _no_sleep(_: float) -> None:
    return None


async def test_two_workers_without_redis_each_take_half_and_redis_returns_at_once(
    own_redis: OwnRedis,
) -> None:
    redis = Redis.from_url(own_redis.url, socket_timeout=0.5, socket_connect_timeout=0.5)
    clock = FakeClock()
    # 10 requests/s, burst 10, shared by two live workers.
    bucket = RedisTokenBucket(redis, "t:rl", 10.0, 10, clock=clock, sleep=_no_sleep, shares=lambda: 2)
    try:
        assert await bucket.acquire() == 0.0  # through Redis
        assert not bucket.using_fallback

        own_redis.stop()
        waits = [await bucket.acquire() for _ in range(6)]
        assert bucket.using_fallback
        # This process's share: 5/s with burst 5, paced at 3 % below (4.85/s) with 1 token kept in
        # reserve, so 4 go at once and the next waits one interval, 1/4.85 s.
        assert waits[:4] == [0.0, 0.0, 0.0, 0.0]
        assert waits[4] == pytest.approx(1 / 4.85, rel=1e-6)
        assert waits[5] == pytest.approx(2 / 4.85, rel=1e-6)

        own_redis.start()  # same port, a new process: every pooled connection is dead
        clock.advance(1.0)
        await bucket.acquire()
        assert not bucket.using_fallback  # back on the shared bucket within a second, no stale connection
    finally:
        await redis.aclose()
