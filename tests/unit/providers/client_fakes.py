"""Fakes of the resilient-client tests: a clock whose sleep advances time, and a ProviderConfig factory."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from walletsync.config import ProviderConfig


class FakeClock:
    """A monotonic clock that moves only when someone sleeps on it; records every sleep."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)

    def advance(self, seconds: float) -> None:
        self.now += seconds


def bucket_violations(sends: list[tuple[float, int]], rate: float, burst: int) -> int:
    """How many (time, cost) sends a provider enforcing a token bucket (rate, burst) at arrival would reject."""
    tokens, last, rejected = float(burst), None, 0
    for at, cost in sorted(sends):
        if last is not None:
            tokens = min(float(burst), tokens + (at - last) * rate)
        last = at
        if tokens + 1e-9 >= min(cost, burst):  # a call above the burst needs a full bucket, then owes
            tokens -= cost
        else:
            rejected += 1
    return rejected


BASE = ProviderConfig(
    name="solana",
    urls=("http://a.test", "http://b.test"),
    api_key=None,
    rate=1000.0,
    burst=1000,
    max_concurrency=8,
    timeout_s=5.0,
    max_attempts=4,
    backoff_initial_s=0.2,
    backoff_max_s=10.0,
    breaker_failure_threshold=3,
    breaker_cooldown_s=30.0,
    metadata_cache_ttl_s=3600.0,
)


def make_config(**changes: Any) -> ProviderConfig:
    return replace(BASE, **changes)
