"""The metadata TTL cache: expiry on an injected clock, copies, single flight, errors not cached."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.unit.providers.client_fakes import FakeClock
from walletsync.providers.metadata_cache import TtlCache


def test_entry_expires_exactly_at_its_ttl() -> None:
    """Fresh until ttl has passed on the injected clock, gone at ttl."""
    clock = FakeClock()
    cache = TtlCache(clock=clock)
    cache.put("mint", {"decimals": 6}, ttl_s=60.0)
    clock.advance(59.9)
    assert cache.get("mint") == (True, {"decimals": 6})
    clock.advance(0.1)
    assert cache.get("mint") == (False, None)
    assert len(cache) == 0


def test_callers_get_copies() -> None:
    """Mutating a returned value does not change what the next caller gets."""
    cache = TtlCache(clock=FakeClock())
    cache.put("k", {"a": [1]}, ttl_s=10)
    _, value = cache.get("k")
    value["a"].append(2)
    assert cache.get("k") == (True, {"a": [1]})


def test_lru_bound() -> None:
    """Past `max_entries` the least recently used entry goes."""
    cache = TtlCache(clock=FakeClock(), max_entries=2)
    cache.put("a", 1, 10)
    cache.put("b", 2, 10)
    cache.get("a")
    cache.put("c", 3, 10)
    assert cache.get("b") == (False, None)
    assert cache.get("a") == (True, 1)


async def test_concurrent_loads_of_one_key_make_one_call() -> None:
    """Ten callers at once, one load; all get the value."""
    cache = TtlCache(clock=FakeClock())
    calls = 0
    release = asyncio.Event()

    async def load() -> dict[str, Any]:
        nonlocal calls
        calls += 1
        await release.wait()
        return {"symbol": "USDC"}

    tasks = [asyncio.create_task(cache.get_or_load("mint", 60, load)) for _ in range(10)]
    await asyncio.sleep(0)
    release.set()
    results = await asyncio.gather(*tasks)
    assert calls == 1
    assert [value for value, _ in results] == [{"symbol": "USDC"}] * 10
    assert sorted(cached for _, cached in results) == [False] + [True] * 9


async def test_failed_load_reaches_every_waiter_and_is_not_cached() -> None:
    """An error goes to all concurrent callers; the next call loads again."""
    cache = TtlCache(clock=FakeClock())
    calls = 0
    release = asyncio.Event()

    async def load() -> int:
        nonlocal calls
        calls += 1
        await release.wait()
        if calls == 1:
            raise RuntimeError("upstream down")
        return 42

    tasks = [asyncio.create_task(cache.get_or_load("k", 60, load)) for _ in range(3)]
    await asyncio.sleep(0)
    release.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    assert await cache.get_or_load("k", 60, load) == (42, False)
    assert calls == 2


async def test_cancelled_loader_lets_a_waiter_load_itself() -> None:
    """If the caller doing the load is cancelled, a waiting caller is not: it loads on its own."""
    cache = TtlCache(clock=FakeClock())
    started = asyncio.Event()
    calls = 0

    async def slow() -> int:
        nonlocal calls
        calls += 1
        started.set()
        await asyncio.Event().wait()
        return 1

    async def fast() -> int:
        nonlocal calls
        calls += 1
        return 2

    leader = asyncio.create_task(cache.get_or_load("k", 60, slow))
    await started.wait()
    follower = asyncio.create_task(cache.get_or_load("k", 60, fast))
    await asyncio.sleep(0)
    leader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leader
    assert await follower == (2, False)
    assert calls == 2
