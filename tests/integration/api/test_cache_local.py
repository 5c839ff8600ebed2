"""The cache's first level (cache_local.py) against a real Redis: hits without Redis, invalidation
by another process, the reply/invalidation race, and a lost subscription (a private redis-server
this test kills; the shared Redis is never stopped).
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from tests.integration.api.conftest import OwnRedis
from walletsync.cache import CacheLayer
from walletsync.cache_local import LIVENESS_S, LocalTier
from walletsync.config import Settings, load_settings

pytestmark = pytest.mark.redis

# What a worker does after its sync commits: invalidate the wallet, in a process of its own.
INVALIDATE = """
import asyncio, sys
from walletsync.cache import CacheLayer
from walletsync.config import load_settings

async def main() -> None:
    settings = load_settings(redis_url=sys.argv[1], cache_namespace=sys.argv[2], auto_migrate=False)
    layer = CacheLayer(settings)
    await layer.invalidate_wallet(int(sys.argv[3]))
    await layer.close()

asyncio.run(main())
"""


def _settings(redis_url: str, namespace: str, tmp_path: Path, **extra: object) -> Settings:
    return load_settings(
        redis_url=redis_url, cache_namespace=namespace, data_dir=tmp_path, auto_migrate=False, **extra
    )


def _local_hits(name: str) -> float:
    return REGISTRY.get_sample_value("walletsync_cache_local_hits_total", {"name": name}) or 0.0


class Source:
    """A loader whose answer the test changes, counting how often it was asked."""

    def __init__(self, value: bytes) -> None:
        self.value = value
        self.loads = 0

    async def __call__(self) -> bytes:
        self.loads += 1
        return self.value


async def _serving(layer: CacheLayer) -> None:
    """Wait until the layer's first level has subscribed (it starts on first use)."""
    local = layer._local
    assert local is not None
    local.start()
    for _ in range(200):
        if local.serving:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the first level never subscribed")


async def test_a_write_in_another_process_invalidates_the_first_level(redis_url: str, tmp_path: Path) -> None:
    namespace = f"l1-{uuid.uuid4().hex[:8]}"
    layer = CacheLayer(_settings(redis_url, namespace, tmp_path))
    try:
        await _serving(layer)
        source = Source(b'{"balance": 1}')
        read = lambda: layer.get_or_load("balances", 7, "now", ttl=60, load=source, wallet_id=7)  # noqa: E731
        assert await read() == b'{"balance": 1}'
        hits = _local_hits("balances")
        for _ in range(10):
            assert await read() == b'{"balance": 1}'
        assert (source.loads, _local_hits("balances") - hits) == (1, 10)  # all ten from process memory
        source.value = b'{"balance": 2}'  # the sync's commit ...
        writer = await asyncio.create_subprocess_exec(  # ... and its invalidation, by another process
            sys.executable, "-c", INVALIDATE, redis_url, namespace, "7", stderr=asyncio.subprocess.PIPE
        )
        _, stderr = await asyncio.wait_for(writer.communicate(), timeout=120)
        assert writer.returncode == 0, stderr.decode()
        for _ in range(100):  # the message takes a moment to arrive; never the old value after it
            if await read() == b'{"balance": 2}':
                break
            await asyncio.sleep(0.01)
        assert await read() == b'{"balance": 2}'
        assert source.loads == 2
        # Another wallet's entries were not touched.
        other = Source(b"w8")
        await layer.get_or_load("balances", 8, "now", ttl=60, load=other, wallet_id=8)
        await layer.get_or_load("balances", 8, "now", ttl=60, load=other, wallet_id=8)
        assert other.loads == 1
    finally:
        await layer.clear_namespace()
        await layer.close()


async def test_a_reply_overtaken_by_its_invalidation_is_not_kept(redis_url: str, tmp_path: Path) -> None:
    """Read at generation g, hear of g+1, then try to keep the g reply: refused."""
    local = LocalTier(redis_url, f"l1-{uuid.uuid4().hex[:8]}", max_bytes=2**20, timeout_s=0.5)
    try:
        local.start()
        for _ in range(200):
            if local.serving:
                break
            await asyncio.sleep(0.01)
        epoch = local.epoch()
        local.heard(5, 3)  # the message for generation 3 arrives first
        local.put("k", 5, 2, b"old", 60, epoch)  # the reply read at generation 2 arrives after
        assert local.get("balances", "k") is None
        local.put("k", 5, 3, b"new", 60, epoch)
        assert local.get("balances", "k") == b"new"
        local.heard(5, 4)  # a later write drops it
        assert local.get("balances", "k") is None
        local.put("untied", None, 0, b"board", 60, epoch)
        local.reset(alive=True)  # a resubscription: a reply begun before it is refused
        local.put("untied", None, 0, b"board", 60, epoch)
        assert local.get("leaderboard", "untied") is None
    finally:
        await local.close()


async def test_lost_subscription_bypasses_then_empties_the_first_level(
    own_redis: OwnRedis, tmp_path: Path
) -> None:
    layer = CacheLayer(_settings(own_redis.url, "l1-lost", tmp_path))
    local = layer._local
    assert local is not None
    try:
        await _serving(layer)
        source = Source(b"v1")
        await layer.get_or_load("balances", 1, "now", ttl=60, load=source, wallet_id=1)
        assert local.get("balances", layer.key("balances", 1, "now")) == b"v1"
        own_redis.stop()  # writes now go unheard
        await asyncio.sleep(LIVENESS_S + 0.5)
        assert not local.serving
        source.value = b"v2"
        # Served from the database, not from the (possibly stale) first level.
        assert await layer.get_or_load("balances", 1, "now", ttl=60, load=source, wallet_id=1) == b"v2"
        own_redis.start()  # the same port again
        for _ in range(500):
            if local.serving:
                break
            await asyncio.sleep(0.01)
        assert local.serving
        assert local.get("balances", layer.key("balances", 1, "now")) is None  # emptied on resubscribe
    finally:
        await layer.close()
