"""The cache layer on its in-process backend: generations, single-flight, the stale-write race, errors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from walletsync.cache import CacheLayer, _pack, _unpack, invalidate_wallet, setup_cache, teardown_cache
from walletsync.config import Settings, load_settings


@pytest.fixture
def memory_settings(tmp_path: object) -> Settings:
    return load_settings(redis_url=None, database_url=None, cache_namespace="unit")


@pytest.fixture
async def layer(memory_settings: Settings) -> AsyncIterator[CacheLayer]:
    cache = setup_cache(memory_settings)
    yield cache
    await teardown_cache(cache)


def test_pack_and_unpack_check_the_generation() -> None:
    """An entry is only read back at the generation it was written at."""
    entry = _pack(3, b'{"a":1}')
    assert entry == b'3:{"a":1}'
    assert _unpack(entry, 3) == b'{"a":1}'
    assert _unpack(entry, 4) is None
    assert _unpack(None, 0) is None
    assert _unpack(b"garbage", 0) is None


async def test_keys_are_namespaced_and_versioned(layer: CacheLayer) -> None:
    """Keys read `{namespace}:v1:{name}:{parts}`."""
    assert layer.key("balances", 7, "now") == "unit:v1:balances:7:now"


async def test_hit_after_miss_and_invalidation(layer: CacheLayer) -> None:
    """The second read is served from the cache; after invalidation the loader runs again."""
    calls = 0

    async def load() -> bytes:
        nonlocal calls
        calls += 1
        return b"%d" % calls

    assert await layer.get_or_load("t", 1, ttl=60, load=load, wallet_id=1) == b"1"
    assert await layer.get_or_load("t", 1, ttl=60, load=load, wallet_id=1) == b"1"
    await invalidate_wallet(1)  # the module-level entry point the indexer calls
    assert await layer.get_or_load("t", 1, ttl=60, load=load, wallet_id=1) == b"2"
    assert await layer.get_or_load("t", 1, ttl=60, load=load, wallet_id=2) == b"3"  # another wallet's key
    assert calls == 3


async def test_a_load_that_raced_an_invalidation_is_never_served(layer: CacheLayer) -> None:
    """A value read from the database before a sync committed (and invalidated) is not served after it."""
    started, release = asyncio.Event(), asyncio.Event()

    async def slow_old_load() -> bytes:
        started.set()
        await release.wait()
        return b"old"

    async def new_load() -> bytes:
        return b"new"

    pending = asyncio.create_task(layer.get_or_load("b", 9, ttl=60, load=slow_old_load, wallet_id=9))
    await started.wait()  # it has read the generation and is loading
    await layer.invalidate_wallet(9)  # the sync committed while the old load was running
    release.set()
    assert await pending == b"old"  # that request still gets what it read
    assert await layer.get_or_load("b", 9, ttl=60, load=new_load, wallet_id=9) == b"new"


async def test_concurrent_misses_share_one_load(layer: CacheLayer) -> None:
    """Twenty concurrent misses of one key run the loader once."""
    calls = 0
    started, gate = asyncio.Event(), asyncio.Event()

    async def load() -> bytes:
        nonlocal calls
        calls += 1
        started.set()
        await gate.wait()
        return b"v"

    tasks = [asyncio.create_task(layer.get_or_load("s", 1, ttl=60, load=load)) for _ in range(20)]
    await started.wait()  # tasks run in creation order: all twenty have looked up the key by now
    gate.set()
    assert await asyncio.gather(*tasks) == [b"v"] * 20
    assert calls == 1


async def test_loader_errors_reach_the_caller_and_are_not_cached(layer: CacheLayer) -> None:
    """A failing load raises to its callers; the next call loads again."""

    async def failing() -> bytes:
        raise LookupError("no such wallet")

    async def working() -> bytes:
        return b"ok"

    with pytest.raises(LookupError):
        await layer.get_or_load("e", 1, ttl=60, load=failing)
    assert await layer.get_or_load("e", 1, ttl=60, load=working) == b"ok"


async def test_disabled_cache_always_loads(memory_settings: Settings) -> None:
    """With WALLETSYNC_CACHE=off every call runs the loader and health says so."""
    layer = CacheLayer(memory_settings.model_copy(update={"cache_enabled": False}))
    calls = 0

    async def load() -> bytes:
        nonlocal calls
        calls += 1
        return b"x"

    for _ in range(3):
        await layer.get_or_load("d", 1, ttl=60, load=load)
    assert calls == 3
    health = await layer.health()
    assert (health.backend, health.ok) == ("off", True)
    await layer.close()


async def test_unreachable_redis_is_skipped_then_probed_again(memory_settings: Settings) -> None:
    """Against a Redis that refuses connections, loads still answer; the layer skips the cache until
    RETRY_AFTER_S has passed on its (injected) clock, then tries again."""
    from walletsync.cache_breaker import RETRY_AFTER_S

    now = [0.0]
    settings = memory_settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    layer = CacheLayer(settings, clock=lambda: now[0])
    try:

        async def load() -> bytes:
            return b"db"

        assert await layer.get_or_load("r", 1, ttl=60, load=load) == b"db"
        assert layer._breaker.skipping()
        assert not (await layer.health()).ok
        now[0] += RETRY_AFTER_S + 0.1
        assert not layer._breaker.skipping()
        assert await layer.get_or_load("r", 1, ttl=60, load=load) == b"db"
        assert layer._breaker.skipping()  # probed, failed again
    finally:
        await layer.close()
