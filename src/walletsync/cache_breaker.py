"""The cache backend's health: a small breaker that skips a dead backend, its metrics and `/readyz` report.

After a cache error every call skips the cache for `RETRY_AFTER_S` (serving from the database), then
the next call probes again. Without it each request would pay a failed connect. Errors are counted
(`walletsync_cache_errors_total`), the state shows in `walletsync_cache_backend_up` and `/readyz`
(`CacheHealth`), and callers never see them: `guarded` turns a failed call into False.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from prometheus_client import Counter, Gauge

log = structlog.get_logger(__name__)

RETRY_AFTER_S = 2.0  # how long a failed backend is skipped before the next probe

CACHE_ERRORS = Counter(
    "walletsync_cache_errors_total",
    "Cache backend errors by operation (served from the database).",
    ["operation"],
)
CACHE_BACKEND_UP = Gauge(
    "walletsync_cache_backend_up", "1 when the cache backend answered its last call, 0 when it failed."
)


@dataclass(frozen=True, slots=True)
class CacheHealth:
    """What `/readyz` reports about the cache."""

    backend: str  # "redis", "memory" or "off"
    ok: bool
    detail: str


class BackendBreaker:
    """Whether the cache backend is skipped right now, and the error that made it so."""

    def __init__(self, backend: str, clock: Callable[[], float]) -> None:
        self.backend = backend
        self._clock = clock
        self._down_until = 0.0
        self.last_error: str | None = None
        self.last_error_at: datetime | None = None

    def skipping(self) -> bool:
        return self._clock() < self._down_until

    def failed(self, operation: str, exc: BaseException) -> None:
        CACHE_ERRORS.labels(operation).inc()
        CACHE_BACKEND_UP.set(0)
        first = self.last_error is None
        cause = exc.__cause__ or exc
        self.last_error = f"{type(cause).__name__}: {cause}".strip().rstrip(":")
        self.last_error_at = datetime.now(UTC)
        self._down_until = self._clock() + RETRY_AFTER_S
        if first:
            log.warning(
                "cache.backend.down", backend=self.backend, operation=operation, error=self.last_error
            )

    def answered(self) -> None:
        self._down_until = 0.0
        if self.last_error is not None:
            log.info("cache.backend.recovered", backend=self.backend)
            self.last_error = None
            self.last_error_at = None
            CACHE_BACKEND_UP.set(1)

    async def guarded(self, operation: str, call: Awaitable[object]) -> bool:
        """Await a cache call; on failure count it and report False instead of raising."""
        try:
            await call
        except Exception as exc:  # noqa: BLE001 - any cache failure is counted and skipped
            self.failed(operation, exc)
            return False
        self.answered()
        return True
