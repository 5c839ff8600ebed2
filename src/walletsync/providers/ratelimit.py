"""Token-bucket rate limiting of provider calls: in-process, or shared by every process through Redis.

Why hand-written and not `limits`: `limits` (5.x) offers fixed-window, moving-window and
sliding-window-counter strategies, none of which is a token bucket with a sustained rate AND an
independent burst. A window of `burst` calls per `burst / rate` seconds lets `2 * burst` through around a
fixed window's edge, windows are whole multiples of a second (50 req/s with burst 1 is a 20 ms window,
not expressible), and `hit()` only answers yes or no, so a caller would have to poll until it says yes.
Providers (and our simulator) enforce a token bucket at request arrival, so we implement GCRA, the
token bucket's "theoretical arrival time" (TAT) form, which also says exactly how long to wait.

Reservation instead of polling: `acquire(cost)` atomically books the caller's place in the schedule
(moves the TAT forward by `cost` emission intervals) and returns the exact wait; the caller awaits that
once and sends. Nobody re-checks, so there are no fixed-sleep loops and no thundering herd. A caller
cancelled while waiting forfeits its tokens, which errs on the safe side.

Safety margin: requests leave in a conforming schedule but arrive at the provider with jitter (event
loop scheduling, network), and a late request followed by an on-time one looks like a burst. So we pace
at `rate * (1 - rate_margin)` (3%: steady traffic slowly refills the provider's bucket) and keep
`ceil(rate * jitter_s)` tokens of the burst in reserve (at least 1, leaving at least 1): the provider's
bucket then still holds that reserve right after our own burst, which absorbs `jitter_s` (100 ms) of
arrival-time compression: a request delayed by a busy event loop, a descheduled process or the network
and the next one arriving together. 100 ms because 20 ms proved too little on a loaded 2-CPU host
(`bench/provider_client.py` saw violations); a bucket shared through Redis keeps 250 ms
(`SHARED_JITTER_S`: processes descheduled together bunch their requests). The reserve only trims the
initial burst, never the sustained rate. With `burst == 1` there is nothing to reserve and only the rate margin remains.

Redis: one Lua script makes the read-compute-write atomic across processes; it reads the time with
Redis `TIME`, so every process shares one clock and host clock skew cannot matter. TAT is stored in
integer microseconds (exact in a double) under `<namespace>:ratelimit:<provider>:<hash>`, where the hash
is of the API key (or of the endpoint URLs when the provider has no key), never the key itself. If Redis
fails, the call falls back to the in-process bucket (logged once per outage) and Redis is retried after
`redis_retry_s` (1 s) on a fresh connection (the pool's connections are dropped at the failure, so a
connection left stale by a Redis restart is never reused): a request never fails because Redis is down.

The fallback is this process's share of the limit, not all of it: `shares()` says how many processes
share the bucket (the live workers, from their heartbeats), and the fallback paces at `rate / shares`
with `burst / shares`, so N workers without Redis still send the provider's limit in total, not N times it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

log = structlog.get_logger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

DEFAULT_RATE_MARGIN = 0.03
DEFAULT_JITTER_S = 0.1
# A bucket shared through Redis by several processes sees more arrival compression than one
# process's own: each process's requests leave on time, but processes descheduled on a busy host
# release theirs together. bench/workers.py, four workers on 2 CPUs at load 3-5, side by side:
# 22-26 violations with a 100 ms reserve, 1-11 with 250 ms, the same utilisation (0.97).
SHARED_JITTER_S = 0.25
REDIS_RETRY_S = 1.0


class RateLimiter(Protocol):
    """Something that makes a caller wait until `cost` tokens are its own."""

    async def acquire(self, cost: int = 1) -> float:
        """Wait for `cost` tokens; return the seconds waited."""
        ...

    @property
    def safe_cost(self) -> int:
        """The largest call cost that still leaves the provider's bucket its reserve on arrival.

        A call costing the provider's whole burst (a JSON-RPC batch as large as the bucket) conforms
        only if it arrives no earlier than the bucket is full again: its only slack is the rate
        margin, 3% of its own cost in time (6 ms for 10 calls at 50/s), so ordinary arrival jitter
        makes it a violation (bench/workers.py: 1-2 per run). Batches up to `safe_cost` keep the
        reserve's slack (`jitter_s`)."""
        ...


def effective_limits(
    rate: float,
    burst: int,
    rate_margin: float = DEFAULT_RATE_MARGIN,
    jitter_s: float = DEFAULT_JITTER_S,
) -> tuple[float, int]:
    """The (rate, burst) we actually pace at: a little below what the provider enforces."""
    if rate <= 0 or burst < 1:
        raise ValueError(f"rate must be > 0 and burst >= 1 (got {rate}, {burst})")
    if not 0 <= rate_margin < 1:
        raise ValueError(f"rate_margin must be in [0, 1) (got {rate_margin})")
    reserve = min(max(1, math.ceil(rate * jitter_s)), burst - 1)
    return rate * (1.0 - rate_margin), burst - reserve


def bucket_key(
    provider: str, api_key: str | None, urls: Iterable[str] = (), *, namespace: str = "walletsync"
) -> str:
    """The Redis key shared by every process that calls `provider` with the same credentials."""
    identity = api_key if api_key else "\n".join(sorted(urls))
    digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
    return f"{namespace}:ratelimit:{provider}:{digest}"


class Gcra:
    """Token-bucket arithmetic in GCRA form; `reserve` books tokens and says when they are due."""

    def __init__(self, rate: float, burst: int) -> None:
        self.interval = 1.0 / rate
        self.burst = burst
        self._tat = float("-inf")

    def reserve(self, cost: int, now: float) -> float:
        """Book `cost` tokens at `now`; return how many seconds from `now` the caller may send.

        A call needs `min(cost, burst)` tokens in the bucket and then takes `cost`: one costing more
        than the whole bucket (a large JSON-RPC batch) waits for a full bucket and leaves a debt that
        later calls wait out. That is how providers (and our simulator) charge such calls.
        """
        check_cost(cost)
        base = max(self._tat, now)
        self._tat = base + cost * self.interval
        return max(0.0, base + (min(cost, self.burst) - self.burst) * self.interval - now)


def check_cost(cost: int) -> None:
    if cost < 1:
        raise ValueError(f"cost must be at least 1 (got {cost})")


class LocalTokenBucket:
    """A token bucket for this process only (no Redis, or Redis is down)."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        rate_margin: float = DEFAULT_RATE_MARGIN,
        jitter_s: float = DEFAULT_JITTER_S,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        eff_rate, eff_burst = effective_limits(rate, burst, rate_margin, jitter_s)
        self.gcra = Gcra(eff_rate, eff_burst)
        self._clock = clock
        self._sleep = sleep

    def reserve(self, cost: int = 1) -> float:
        return self.gcra.reserve(cost, self._clock())

    @property
    def safe_cost(self) -> int:
        return self.gcra.burst

    async def acquire(self, cost: int = 1) -> float:
        wait = self.reserve(cost)
        if wait > 0:
            await self._sleep(wait)
        return wait


# The same arithmetic as `Gcra.reserve`, in µs on Redis's clock. KEYS[1] = bucket key; ARGV = interval
# (µs per token), burst, cost. Returns the wait in µs as a string
# (Lua numbers would be truncated to integers by the reply conversion anyway, but strings are explicit).
_GCRA_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then tat = now end
local new_tat = tat + cost * interval
local wait = tat + (math.min(cost, burst) - burst) * interval - now
if wait < 0 then wait = 0 end
redis.call('SET', KEYS[1], string.format('%.0f', math.ceil(new_tat)),
           'PX', math.ceil((new_tat - now) / 1000) + 1000)
return string.format('%.0f', math.ceil(wait))
"""


class RedisTokenBucket:
    """A token bucket in Redis, shared by every process using the same key; in-process when Redis fails."""

    def __init__(
        self,
        redis: Redis,
        key: str,
        rate: float,
        burst: int,
        *,
        rate_margin: float = DEFAULT_RATE_MARGIN,
        jitter_s: float = DEFAULT_JITTER_S,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        redis_retry_s: float = REDIS_RETRY_S,
        shares: Callable[[], int] = lambda: 1,
    ) -> None:
        eff_rate, eff_burst = effective_limits(rate, burst, rate_margin, jitter_s)
        self._redis = redis
        self._rate, self._burst_limit, self._rate_margin = rate, burst, rate_margin
        self._jitter_s = jitter_s
        self._shares = shares
        self._fallback_shares = 0
        self.key = key
        self._interval_us = 1_000_000.0 / eff_rate
        self._burst = eff_burst
        self._script = redis.register_script(_GCRA_LUA)
        self._clock = clock
        self._sleep = sleep
        self._redis_retry_s = redis_retry_s
        self._redis_down_until: float | None = None
        self._fallback: LocalTokenBucket | None = None

    @property
    def fallback(self) -> LocalTokenBucket:
        """The in-process bucket at this process's share of the limit (rebuilt when the share changes)."""
        shares = max(1, self._shares())
        if self._fallback is None or shares != self._fallback_shares:
            self._fallback = LocalTokenBucket(
                self._rate / shares,
                max(1, self._burst_limit // shares),
                rate_margin=self._rate_margin,
                jitter_s=self._jitter_s,
                clock=self._clock,
                sleep=self._sleep,
            )
            self._fallback_shares = shares
        return self._fallback

    @property
    def safe_cost(self) -> int:
        return self._burst

    @property
    def using_fallback(self) -> bool:
        return self._redis_down_until is not None

    async def _reserve_shared(self, cost: int) -> float | None:
        """Seconds to wait per the shared bucket, or None when Redis cannot answer."""
        if self._redis_down_until is not None and self._clock() < self._redis_down_until:
            return None
        try:
            reply = await self._script(keys=[self.key], args=[repr(self._interval_us), self._burst, cost])
        except (RedisError, OSError, TimeoutError) as exc:
            if self._redis_down_until is None:
                log.warning(
                    "provider.ratelimit.redis_unavailable",
                    key=self.key,
                    error=type(exc).__name__,
                    fallback="in-process",
                    shares=max(1, self._shares()),
                )
            self._redis_down_until = self._clock() + self._redis_retry_s
            with contextlib.suppress(Exception):  # dropping dead connections must not fail the call
                await self._redis.connection_pool.disconnect()
            return None
        if self._redis_down_until is not None:
            log.info("provider.ratelimit.redis_recovered", key=self.key)
            self._redis_down_until = None
        return int(reply) / 1_000_000

    async def acquire(self, cost: int = 1) -> float:
        check_cost(cost)
        wait = await self._reserve_shared(cost)
        if wait is None:
            wait = self.fallback.reserve(cost)
        if wait > 0:
            await self._sleep(wait)
        return wait
