"""The token bucket: GCRA arithmetic, exact waits, cost, conformance, Redis fallback."""

from __future__ import annotations

import random

import pytest
import structlog
from redis.asyncio import Redis

from tests.unit.providers.client_fakes import FakeClock, bucket_violations
from walletsync.config import load_settings
from walletsync.providers.clients import build_provider_clients
from walletsync.providers.ratelimit import (
    SHARED_JITTER_S,
    Gcra,
    LocalTokenBucket,
    RedisTokenBucket,
    bucket_key,
    effective_limits,
)


def test_effective_limits_keep_a_margin() -> None:
    """We pace 3% under the rate and keep 100 ms worth of tokens (at least one) of the burst in reserve."""
    assert effective_limits(50.0, 10) == pytest.approx((48.5, 5))
    assert effective_limits(10.0, 500) == pytest.approx((9.7, 499))
    assert effective_limits(200.0, 20) == pytest.approx((194.0, 1))
    assert effective_limits(50.0, 1) == pytest.approx((48.5, 1))
    with pytest.raises(ValueError, match="rate"):
        effective_limits(0, 1)


def test_buckets_shared_between_processes_keep_a_250_ms_reserve() -> None:
    """Several processes bunch more than one: a shared bucket keeps 250 ms of tokens back (at 50/s
    burst 10, all but one token: 12.5 wanted, 9 the most it may keep), a process's own 100 ms."""
    assert effective_limits(50.0, 10, jitter_s=SHARED_JITTER_S) == pytest.approx((48.5, 1))
    assert effective_limits(100.0, 40, jitter_s=SHARED_JITTER_S) == pytest.approx((97.0, 15))
    redis = Redis.from_url("redis://127.0.0.1:1")  # never contacted: only the arithmetic is read
    settings = load_settings(
        solana_rpc_urls=["http://127.0.0.1:1"], solana_rate=50.0, solana_burst=10, redis_url=None
    )
    clients = build_provider_clients(settings, redis_url="redis://127.0.0.1:1")
    limiter = clients.solana._limiter if clients.solana is not None else None
    assert isinstance(limiter, RedisTokenBucket)
    assert limiter._burst == 1
    assert RedisTokenBucket(redis, "k", 50.0, 10)._burst == 5  # the default: one process's 100 ms


def test_gcra_lets_the_burst_through_then_spaces_by_the_interval() -> None:
    """A full bucket of 4 passes at once; the next calls wait one interval more each."""
    gcra = Gcra(rate=10.0, burst=4)
    waits = [gcra.reserve(1, now=100.0) for _ in range(6)]
    assert waits == pytest.approx([0, 0, 0, 0, 0.1, 0.2])


def test_gcra_refills_but_never_beyond_the_burst() -> None:
    """After a long idle period the bucket holds `burst` tokens, not more."""
    gcra = Gcra(rate=10.0, burst=3)
    for _ in range(3):
        gcra.reserve(1, now=0.0)
    assert gcra.reserve(1, now=0.05) == pytest.approx(0.05)
    waits = [gcra.reserve(1, now=100.0) for _ in range(4)]
    assert waits == pytest.approx([0, 0, 0, 0.1])


def test_cost_takes_that_many_tokens() -> None:
    """A call of cost 3 uses three tokens; the next cost-3 call waits for the two that are missing."""
    gcra = Gcra(rate=10.0, burst=4)
    assert gcra.reserve(3, now=0.0) == 0
    assert gcra.reserve(3, now=0.0) == pytest.approx(0.2)


def test_cost_above_the_burst_waits_for_a_full_bucket_and_leaves_a_debt() -> None:
    """A batch costing 6 with burst 4 goes once the bucket is full, and the next call waits off the debt."""
    gcra = Gcra(rate=10.0, burst=4)
    assert gcra.reserve(1, now=0.0) == 0
    assert gcra.reserve(6, now=0.0) == pytest.approx(0.1)  # refill the one token taken
    assert gcra.reserve(1, now=0.1) == pytest.approx(0.3)  # 2 tokens of debt + 1 token


def test_cost_below_one_is_refused() -> None:
    """A call costs at least one token."""
    with pytest.raises(ValueError, match="cost"):
        Gcra(rate=10.0, burst=4).reserve(0, now=0.0)


async def test_acquire_awaits_exactly_the_reserved_time_once() -> None:
    """Waiting is one await of the exact time (no polling): sleeps are exactly the GCRA waits."""
    clock = FakeClock()
    bucket = LocalTokenBucket(10.0, 3, rate_margin=0.0, clock=clock, sleep=clock.sleep)
    waited = [await bucket.acquire() for _ in range(5)]
    assert waited == pytest.approx([0, 0, 0.1, 0.1, 0.1])
    assert clock.sleeps == pytest.approx([0.1, 0.1, 0.1])


def test_any_request_schedule_conforms_to_the_providers_bucket() -> None:
    """Random arrivals and costs, sent when the bucket says: a provider bucket (rate, burst) rejects none."""
    rng = random.Random(7)
    rate, burst = 50.0, 5
    clock = FakeClock(start=0.0)
    bucket = LocalTokenBucket(rate, burst, clock=clock)
    sends: list[tuple[float, int]] = []
    now = 0.0
    for _ in range(2000):
        now += rng.expovariate(80.0)  # offered load above the limit, in bursts
        clock.now = now
        cost = rng.choice([1, 1, 1, 2, 4, 8])  # 8 > burst: a large batch
        sends.append((now + bucket.reserve(cost), cost))
    assert bucket_violations(sends, rate, burst) == 0
    # And the limiter does not starve the caller: the schedule uses most of the allowed rate.
    span = max(at for at, _ in sends) - min(at for at, _ in sends)
    assert sum(c for _, c in sends) / span > 0.9 * rate


def test_without_margin_the_same_checker_does_catch_violations() -> None:
    """The conformance checker can fail: a bucket faster than the provider's is caught."""
    clock = FakeClock(start=0.0)
    bucket = LocalTokenBucket(60.0, 5, rate_margin=0.0, clock=clock)
    sends = [(bucket.reserve(1), 1) for _ in range(100)]
    assert bucket_violations(sends, 50.0, 5) > 0


def test_bucket_key_names_the_provider_and_hides_the_key() -> None:
    """The Redis key carries the provider and a hash, never the API key itself."""
    key = bucket_key("blockfrost", "mainnetSECRETKEY123")
    assert key.startswith("walletsync:ratelimit:blockfrost:")
    assert "SECRETKEY" not in key
    assert key != bucket_key("blockfrost", "another-key")
    assert bucket_key("solana", None, ["https://x?api-key=abc"]) != bucket_key("solana", None, ["https://y"])
    assert bucket_key("solana", None, namespace="run42").startswith("run42:ratelimit:solana:")


async def test_redis_down_falls_back_to_the_local_bucket_and_logs_once() -> None:
    """With Redis unreachable, calls still get tokens (from the in-process bucket) and one warning is logged."""
    clock = FakeClock()
    redis = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5, socket_timeout=0.5)
    bucket = RedisTokenBucket(
        redis, "test:down", 10.0, 3, rate_margin=0.0, clock=clock, sleep=clock.sleep, redis_retry_s=5.0
    )
    try:
        with structlog.testing.capture_logs() as logs:
            waited = [await bucket.acquire() for _ in range(4)]
    finally:
        await redis.aclose()
    assert waited == pytest.approx([0, 0, 0.1, 0.1])
    assert bucket.using_fallback
    events = [e["event"] for e in logs]
    assert events.count("provider.ratelimit.redis_unavailable") == 1


async def test_batches_up_to_safe_cost_absorb_arrival_jitter_and_full_burst_batches_do_not() -> None:
    """A batch costing the provider's whole burst conforms only if it arrives exactly on time: with
    0-20 ms of network jitter (under the 100 ms reserve) such batches are rejected now and then, while
    batches of `safe_cost` never are. The provider is `bucket_violations`, checking at arrival."""
    rejected: dict[int, int] = {}
    for cost in (10, 5):
        clock = FakeClock()
        bucket = LocalTokenBucket(50.0, 10, clock=clock, sleep=clock.sleep)
        assert bucket.safe_cost == 5  # 10 minus 100 ms of tokens at 50/s
        rng = random.Random(7)
        sends: list[tuple[float, int]] = []
        for _ in range(2_000 // cost):
            await bucket.acquire(cost)
            sends.append((clock.now + rng.uniform(0.0, 0.02), cost))
        rejected[cost] = bucket_violations(sends, 50.0, 10)
    assert rejected[10] > 0
    assert rejected[5] == 0


def test_safe_cost_is_the_burst_less_the_reserve() -> None:
    assert LocalTokenBucket(10.0, 100).safe_cost == 99  # the Solana defaults: 100 ms is one token
    assert LocalTokenBucket(50.0, 1).safe_cost == 1
    redis = Redis.from_url("redis://127.0.0.1:1")  # never contacted
    shared = RedisTokenBucket(redis, "k", 50.0, 10, jitter_s=SHARED_JITTER_S)
    assert shared.safe_cost == 1  # 250 ms is 12.5 tokens at 50/s: all but one of 10 kept back
    assert RedisTokenBucket(redis, "k", 10.0, 100, jitter_s=SHARED_JITTER_S).safe_cost == 97
