"""The per-key request rate limit (`WALLETSYNC_API_RATE_LIMIT`, e.g. `600/minute`), with `limits`.

Moving window, stored in Redis when `REDIS_URL` is set (so every API process shares one budget per
key), in process memory otherwise. If Redis fails, the limit is enforced per process from memory
until Redis answers again (probed every `RETRY_AFTER_S`), so an outage neither blocks requests nor
lifts the limit.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import structlog
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from prometheus_client import Counter
from redis.asyncio import BlockingConnectionPool

from walletsync.config import Settings
from walletsync.errors import ConfigError

log = structlog.get_logger(__name__)

RETRY_AFTER_S = 2.0
REDIS_TIMEOUT_S = 0.5

RATE_LIMITED = Counter(
    "walletsync_api_rate_limited_total", "Requests refused with 429 by the per-key rate limit."
)
RATE_LIMIT_ERRORS = Counter(
    "walletsync_api_rate_limit_errors_total",
    "Rate-limit storage errors (the limit fell back to process memory).",
)


def _limits_uri(redis_url: str) -> str:
    if redis_url.startswith("unix://"):
        return "async+redis+unix://" + redis_url.removeprefix("unix://")
    return "async+" + redis_url


class KeyRateLimiter:
    """`hit(identity)` spends one request of an identity's budget; returns seconds to wait, or None."""

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.monotonic) -> None:
        try:
            self.item: RateLimitItem = parse(settings.api_rate_limit)
        except ValueError:
            raise ConfigError(
                f"WALLETSYNC_API_RATE_LIMIT: {settings.api_rate_limit!r} is not a rate like '600/minute'"
            ) from None
        try:
            self.auth_item: RateLimitItem = parse(settings.api_auth_rate_limit)
        except ValueError:
            raise ConfigError(
                f"WALLETSYNC_API_AUTH_RATE_LIMIT: {settings.api_auth_rate_limit!r} is not a rate like "
                "'120/minute'"
            ) from None
        self._clock = clock
        self._memory = MovingWindowRateLimiter(MemoryStorage())
        self._pool: BlockingConnectionPool | None = None
        self._redis: MovingWindowRateLimiter | None = None
        if settings.redis_url:
            self._pool = BlockingConnectionPool.from_url(
                settings.redis_url,
                max_connections=64,
                timeout=REDIS_TIMEOUT_S,
                socket_timeout=REDIS_TIMEOUT_S,
                socket_connect_timeout=REDIS_TIMEOUT_S,
            )
            storage = RedisStorage(
                _limits_uri(settings.redis_url),
                implementation="redispy",
                key_prefix=f"{settings.cache_namespace}:ratelimit",
                # limits types its pass-through options narrowly; redis takes the pool as is.
                connection_pool=self._pool,  # type: ignore[arg-type]
            )
            self._redis = MovingWindowRateLimiter(storage)
        self._down_until = 0.0
        self._down = False

    @property
    def backend(self) -> str:
        return "redis" if self._redis is not None else "memory"

    async def hit(self, identity: str, item: RateLimitItem | None = None) -> int | None:
        """Spend one of `identity`'s budget (`item`, default the per-key rate)."""
        item = item or self.item
        limiter = self._limiter()
        try:
            allowed = await limiter.hit(item, identity)
            if not allowed:
                stats = await limiter.get_window_stats(item, identity)
        except Exception as exc:  # noqa: BLE001 - storage failure: enforce from memory instead
            self._failed(exc)
            limiter = self._memory
            allowed = await limiter.hit(item, identity)
            if not allowed:
                stats = await limiter.get_window_stats(item, identity)
        else:
            if limiter is self._redis and self._down:
                self._down = False
                log.info("api.ratelimit.redis_recovered")
        if allowed:
            return None
        RATE_LIMITED.inc()
        return max(1, math.ceil(stats.reset_time - time.time()))

    def _limiter(self) -> MovingWindowRateLimiter:
        if self._redis is None or self._clock() < self._down_until:
            return self._memory
        return self._redis

    def _failed(self, exc: BaseException) -> None:
        RATE_LIMIT_ERRORS.inc()
        self._down_until = self._clock() + RETRY_AFTER_S
        if not self._down:
            self._down = True
            log.warning("api.ratelimit.redis_down", error=f"{type(exc).__name__}: {exc}")

    async def reset(self) -> None:
        """Forget every counter (tests and benchmarks)."""
        await self._memory.storage.reset()
        if self._redis is not None:
            await self._redis.storage.reset()

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()
