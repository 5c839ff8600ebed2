"""Read-your-writes over replicas for cached wallet reads: each wallet's WAL watermark, kept in the cache.

With a write-position source (`track_writes`, set when replicas are configured) every wallet
invalidation (`cache.py`) first raises the wallet's watermark (`{namespace}:v1:wallet-wal:{id}`) to
the primary's WAL position, then bumps the generation; a load for that wallet runs inside
`reading_after(watermark)`, so `db.read()` picks only a replica that has replayed the write (else the
primary). Watermark before generation, read generation before watermark: a reader that sees the new
generation also sees the new watermark. A cache failure here only loses the watermark: reads then
fall back to replicas that lag at most REPLICA_MAX_LAG.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog
from cashews import Cache

from walletsync.cache_breaker import BackendBreaker
from walletsync.db.replicas import reading_after

log = structlog.get_logger(__name__)

# A watermark outlives any write a usable replica (lag <= REPLICA_MAX_LAG) could still be missing.
WATERMARK_TTL_S = 600.0

WritePosition = Callable[[], Awaitable[int | None]]


class WalletWatermarks:
    """The watermarks of one cache layer: raised on invalidation, read before a wallet's load."""

    def __init__(self, cache: Cache, breaker: BackendBreaker, key: Callable[[int], str]) -> None:
        self._cache = cache
        self._breaker = breaker
        self._key = key
        self._write_position: WritePosition | None = None

    def track_writes(self, write_position: WritePosition) -> None:
        """Record `write_position()` (the primary's WAL position) with every wallet invalidation."""
        self._write_position = write_position

    async def load_after_writes(self, wallet_id: int | None, load: Callable[[], Awaitable[bytes]]) -> bytes:
        """`load()`, reading only from replicas that replayed the wallet's last recorded write."""
        if wallet_id is None or self._write_position is None:
            return await load()
        with reading_after(await self.watermark(wallet_id)):
            return await load()

    async def watermark(self, wallet_id: int) -> int:
        """The WAL position a read of this wallet must see (0: none recorded, or the cache is down:
        then replicas that lag at most REPLICA_MAX_LAG serve it)."""
        if self._write_position is None:
            return 0
        try:
            value = await self._cache.get(self._key(wallet_id))
        except Exception as exc:  # noqa: BLE001 - cache failure: fall back to the lag bound
            self._breaker.failed("get", exc)
            return 0
        return value if isinstance(value, int) else 0

    async def raise_to_write_position(self, wallet_id: int) -> None:
        """Raise the wallet's watermark to the primary's current WAL position (before its generation bump)."""
        if self._write_position is None:
            return
        try:
            position = await self._write_position()
        except Exception as exc:  # noqa: BLE001 - the write is committed; only the watermark is lost
            log.warning("cache.watermark.failed", wallet_id=wallet_id, error=f"{type(exc).__name__}: {exc}")
            return
        if position is None:
            return
        key = self._key(wallet_id)

        async def raise_to_position() -> None:
            # Raise, never lower, atomically across processes with INCRBY only: a concurrent raise
            # can overshoot (then reads wait for a little more WAL), never undershoot.
            current = await self._cache.incr(key, 0)
            if current < position:
                await self._cache.incr(key, position - current)
            await self._cache.expire(key, WATERMARK_TTL_S)

        await self._breaker.guarded("watermark", raise_to_position())
