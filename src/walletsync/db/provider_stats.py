"""The `provider_stats` table: every process's provider counts per endpoint and minute, summed.

Each process counts in memory (`providers.stats.ProviderStats`, fed by its resilient clients) and a
`StatsFlusher` writes the counts every `WALLETSYNC_PROVIDER_STATS_FLUSH` seconds and at exit, with one
`INSERT ... ON CONFLICT DO UPDATE SET x = x + excluded.x`: two processes writing the same minute add
up, and a flush is one statement whatever the number of endpoints. The operations page (API process)
reads windows of recent minutes (`endpoint_windows`); the hourly prune job deletes minutes older than
`WALLETSYNC_PROVIDER_STATS_RETENTION` (`prune_provider_stats`).

A flush never reaches a provider call: it runs in its own task, and when the database is down the
counts go back into memory (`ProviderStats.restore`) to be written by a later flush; the failure is
logged once until a flush succeeds again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import array, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from walletsync.db.engine import Database
from walletsync.db.models import provider_stats
from walletsync.providers.stats import WAIT_BOUNDS_MS, WAIT_BUCKETS, Counts, ProviderStats

log = structlog.get_logger(__name__)

_SUMMED = ("requests", "errors", "rate_limited", "throttle_wait_ms")


async def write_counts(conn: AsyncConnection, counts: dict[Any, Counts]) -> int:
    """Add `counts` (keyed by `providers.stats.StatsKey`) to their rows; how many rows were written."""
    if not counts:
        return 0
    t = provider_stats
    rows = [
        {
            "provider": key.provider,
            "endpoint": key.endpoint,
            "minute": key.minute,
            "requests": c.requests,
            "errors": c.errors,
            "rate_limited": c.rate_limited,
            "throttle_wait_ms": c.throttle_wait_ms,
            "throttle_wait_max_ms": c.throttle_wait_max_ms,
            "waits": list(c.waits),
        }
        for key, c in sorted(counts.items())  # one lock order for every writer: no deadlock between them
    ]
    statement = insert(t).values(rows)
    new = statement.excluded
    summed: dict[str, Any] = {name: t.c[name] + new[name] for name in _SUMMED}
    summed["throttle_wait_max_ms"] = func.greatest(t.c.throttle_wait_max_ms, new.throttle_wait_max_ms)
    # Element-wise sum of the wait histograms (PostgreSQL arrays are 1-based).
    summed["waits"] = array([t.c.waits[i] + new.waits[i] for i in range(1, WAIT_BUCKETS + 1)])
    await conn.execute(
        statement.on_conflict_do_update(index_elements=[t.c.provider, t.c.endpoint, t.c.minute], set_=summed)
    )
    return len(rows)


class StatsFlusher:
    """Writes a process's `ProviderStats` to `provider_stats` periodically and at exit."""

    def __init__(self, db: Database, stats: ProviderStats, *, interval_s: float) -> None:
        self.db = db
        self.stats = stats
        self.interval_s = interval_s
        self.flushes = 0  # successful flushes that wrote something (tests, logs)
        self._failing = False
        self._lock = asyncio.Lock()

    async def flush(self) -> bool:
        """Write what was counted since the last flush; False (counts kept for later) on failure."""
        async with self._lock:
            drained = self.stats.drain()
            if not drained:
                return True
            try:
                async with self.db.write() as conn:
                    await write_counts(conn, drained)
            except Exception as exc:  # noqa: BLE001 - the database may be down: keep counting
                self.stats.restore(drained)
                if not self._failing:
                    self._failing = True
                    log.warning(
                        "provider.stats.flush_failed", error=type(exc).__name__, detail=str(exc)[:200]
                    )
                return False
            if self._failing:
                self._failing = False
                log.info("provider.stats.flush_recovered")
            self.flushes += 1
            return True

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            await self.flush()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[StatsFlusher]:
        """Flush every `interval_s` while the block runs, and once more when it ends."""
        task = asyncio.get_running_loop().create_task(self._loop(), name="provider-stats-flush")
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await self.flush()


@dataclass(frozen=True, slots=True)
class Window:
    """One endpoint's counts over a window of recent minutes (every process's, summed)."""

    requests: int = 0
    errors: int = 0
    rate_limited: int = 0
    throttle_wait_ms: int = 0
    throttle_wait_max_ms: int = 0
    waits: tuple[int, ...] = (0,) * WAIT_BUCKETS

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None

    def wait_percentile_ms(self, q: float) -> int | None:
        """An upper bound of the q-quantile of rate-limit waits: the bound of the histogram bucket that
        holds it (the longest wait when it falls in the last, open bucket); None without attempts."""
        total = sum(self.waits)
        if not total:
            return None
        rank = q * total
        seen = 0
        for i, count in enumerate(self.waits):
            seen += count
            if seen >= rank and count:
                return WAIT_BOUNDS_MS[i] if i < len(WAIT_BOUNDS_MS) else self.throttle_wait_max_ms
        return self.throttle_wait_max_ms


async def endpoint_windows(
    conn: AsyncConnection, *, now: datetime, windows: Sequence[timedelta]
) -> dict[tuple[str, str], list[Window]]:
    """{(provider, endpoint): [one `Window` per entry of `windows`]} over the minutes ending `now`
    (the current, partial minute included)."""
    t = provider_stats
    since = now - max(windows)
    rows = (
        await conn.execute(
            select(t).where(t.c.minute > since - timedelta(minutes=1)).order_by(t.c.provider, t.c.endpoint)
        )
    ).mappings()
    result: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        sums = result.setdefault((row["provider"], row["endpoint"]), [_empty() for _ in windows])
        for span, acc in zip(windows, sums, strict=True):
            if row["minute"] > now - span - timedelta(minutes=1):
                for name in _SUMMED:
                    acc[name] += row[name]
                acc["throttle_wait_max_ms"] = max(acc["throttle_wait_max_ms"], row["throttle_wait_max_ms"])
                acc["waits"] = [a + b for a, b in zip(acc["waits"], row["waits"], strict=False)]
    return {
        key: [Window(**{**acc, "waits": tuple(acc["waits"])}) for acc in sums] for key, sums in result.items()
    }


def _empty() -> dict[str, Any]:
    return {**dict.fromkeys(_SUMMED, 0), "throttle_wait_max_ms": 0, "waits": [0] * WAIT_BUCKETS}


async def prune_provider_stats(db: Database, *, now: datetime, retention: timedelta) -> int:
    """Delete minutes older than `retention`; how many rows went."""
    t = provider_stats
    async with db.write() as conn:
        result = await conn.execute(delete(t).where(t.c.minute < now - retention))
    return int(result.rowcount)
