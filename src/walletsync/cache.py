"""The cache layer: cashews on Redis (when `REDIS_URL` is set) or in-process, cache-aside for hot reads.

Keys are `{namespace}:v1:{name}:{parts...}`; `v1` is the version of the cached payload format (bump it
when a payload changes shape, and old entries are simply never read again). Payloads are JSON bytes
(never pickles, so whoever can write to Redis cannot make us run code).

A first level in each process (`cache_local.py`, `WALLETSYNC_CACHE_LOCAL_MB`) answers repeated reads
without a Redis round trip; wallet invalidations reach it through a Redis channel.

Three pieces are written here rather than taken from cashews, each for a reason:
- Wallet invalidation by generation counter, not cashews tags or key deletion. Every entry that
  depends on a wallet is stored with that wallet's generation (`{namespace}:v1:wallet-gen:{id}`), read
  in the same round trip (MGET). `invalidate_wallet` increments the counter, so an entry written by a
  request that read the database *before* the sync committed can never be served afterwards, a race
  that deleting keys (or tags) leaves open.
- Single-flight only on a miss. cashews' `@cache(lock=True)` takes a Redis lock around every call,
  hits included. Here concurrent misses in one process share one load (one asyncio task per key, the
  idea of cashews' `thunder_protection`); across processes the first miss takes `set_lock` and the
  others poll for its value for a bounded time.
- Read-your-writes over replicas (`cache_watermarks.py`): `invalidate_wallet` raises the wallet's
  WAL watermark before it bumps the generation, and a wallet's load reads only from replicas past it.
This module owns the cache-aside path, the generation-stamped entries and the process's cache; a
dead backend is skipped by a small breaker (`cache_breaker.py`) so callers never see its errors.
"""

from __future__ import annotations

import asyncio
import time
import uuid
import warnings
from collections.abc import Awaitable, Callable

import structlog
from cashews import Cache
from prometheus_client import Counter

from walletsync.cache_breaker import CACHE_BACKEND_UP, BackendBreaker, CacheHealth
from walletsync.cache_local import LocalTier
from walletsync.cache_watermarks import WalletWatermarks, WritePosition
from walletsync.config import Settings

log = structlog.get_logger(__name__)

PAYLOAD_VERSION = "v1"
LOCK_TTL_S = 10.0  # cross-process fill lock; longer than any sane loader
LOCK_WAIT_S = 2.0  # how long a process waits for another process's fill before loading itself
LOCK_POLL_S = 0.01
REDIS_TIMEOUT_S = 0.5  # a cache slower than this is worse than the database

CACHE_REQUESTS = Counter(
    "walletsync_cache_requests_total",
    "Cache-aside lookups by cache name and result (hit, miss, coalesced: waited on another request's "
    "load, bypass: backend down, served from the database).",
    ["name", "result"],
)

Loader = Callable[[], Awaitable[bytes]]


class CacheLayer:
    """One process's cache: a cashews `Cache`, the in-flight loads and the backend's health."""

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.enabled = settings.cache_enabled
        self.namespace = settings.cache_namespace
        self.backend = "redis" if settings.redis_url else "memory"
        self._clock = clock
        self._cache = Cache(name=f"walletsync-{uuid.uuid4().hex[:8]}")
        if settings.redis_url:
            self._cache.setup(
                settings.redis_url,
                # Raise instead of cashews' "safe" mode, which would turn errors into misses silently.
                suppress=False,
                pickle_type="null",
                socket_timeout=REDIS_TIMEOUT_S,
                socket_connect_timeout=REDIS_TIMEOUT_S,
                wait_for_connection_timeout=REDIS_TIMEOUT_S,
                max_connections=64,
                client_name=f"{self.namespace}-cache",
            )
        else:
            self._cache.setup("mem://", size=100_000)
        self._inflight: dict[str, asyncio.Task[bytes]] = {}
        self._breaker = BackendBreaker(self.backend, clock)
        self._watermarks = WalletWatermarks(self._cache, self._breaker, self._watermark_key)
        # The first level (cache_local.py): only in front of Redis; the memory backend is one already.
        self._local: LocalTier | None = None
        if settings.redis_url and settings.cache_enabled and settings.cache_local_mb > 0:
            self._local = LocalTier(
                settings.redis_url,
                self.key("invalidations"),
                max_bytes=settings.cache_local_mb * 2**20,
                timeout_s=REDIS_TIMEOUT_S,
                clock=clock,
            )
        CACHE_BACKEND_UP.set(1)

    def track_writes(self, write_position: WritePosition) -> None:
        """Record `write_position()` (the primary's WAL position) with every wallet invalidation."""
        self._watermarks.track_writes(write_position)

    async def wallet_watermark(self, wallet_id: int) -> int:
        """The WAL position a read of this wallet must see (see `cache_watermarks.py`)."""
        return await self._watermarks.watermark(wallet_id)

    # --- keys -------------------------------------------------------------------------------------
    def key(self, name: str, *parts: object) -> str:
        return ":".join([self.namespace, PAYLOAD_VERSION, name, *(str(p) for p in parts)])

    def _gen_key(self, wallet_id: int) -> str:
        return self.key("wallet-gen", wallet_id)

    def _watermark_key(self, wallet_id: int) -> str:
        return self.key("wallet-wal", wallet_id)

    # --- cache-aside ------------------------------------------------------------------------------
    async def get_or_load(
        self, name: str, *parts: object, ttl: float, load: Loader, wallet_id: int | None = None
    ) -> bytes:
        """The cached payload of `name:parts`, or `load()`'s (stored for `ttl` seconds).

        With `wallet_id`, the entry is invalidated by `invalidate_wallet(wallet_id)`. Cache failures
        never reach the caller: the payload then comes from `load()`.
        """
        if not self.enabled:
            return await self._watermarks.load_after_writes(wallet_id, load)
        if self._breaker.skipping():
            CACHE_REQUESTS.labels(name, "bypass").inc()
            return await load()
        key = self.key(name, *parts)
        local, epoch = self._local, 0
        if local is not None:
            local.start()
            payload = local.get(name, key)
            if payload is not None:
                CACHE_REQUESTS.labels(name, "hit").inc()
                return payload
            epoch = local.epoch()  # taken before reading Redis: see LocalTier.put
        try:
            gen, payload = await self._read(key, wallet_id)
        except Exception as exc:  # noqa: BLE001 - any cache failure means "serve from the database"
            self._breaker.failed("get", exc)
            CACHE_REQUESTS.labels(name, "bypass").inc()
            return await load()
        self._breaker.answered()
        if payload is not None:
            CACHE_REQUESTS.labels(name, "hit").inc()
            if local is not None:
                local.put(key, wallet_id, gen, payload, ttl, epoch)
            return payload
        flight = f"{key}#{gen}"
        task = self._inflight.get(flight)
        if task is not None:
            CACHE_REQUESTS.labels(name, "coalesced").inc()
        else:
            CACHE_REQUESTS.labels(name, "miss").inc()
            task = asyncio.create_task(self._fill(key, wallet_id, ttl, load))
            self._inflight[flight] = task
            task.add_done_callback(lambda _: self._inflight.pop(flight, None))
        # Shielded: a client that disconnects must not cancel the load others are waiting on.
        payload = await asyncio.shield(task)
        if local is not None:
            # Labelled with the generation read before the load began: never newer than its data.
            local.put(key, wallet_id, gen, payload, ttl, epoch)
        return payload

    async def _read(self, key: str, wallet_id: int | None) -> tuple[int, bytes | None]:
        if wallet_id is None:
            return 0, _unpack(await self._cache.get(key), 0)
        raw_gen, entry = await self._cache.get_many(self._gen_key(wallet_id), key)
        gen = int(raw_gen or 0)
        return gen, _unpack(entry, gen)

    async def _fill(self, key: str, wallet_id: int | None, ttl: float, load: Loader) -> bytes:
        if self.backend != "redis":
            return await self._load_and_store(key, wallet_id, ttl, load)
        lock_key = f"{key}:lock"
        token = uuid.uuid4().hex
        try:
            locked = bool(await self._cache.set_lock(lock_key, token, expire=LOCK_TTL_S))
        except Exception as exc:  # noqa: BLE001 - cache failure: load without the lock
            self._breaker.failed("lock", exc)
            return await load()
        if locked:
            try:
                return await self._load_and_store(key, wallet_id, ttl, load)
            finally:
                await self._breaker.guarded("unlock", self._cache.unlock(lock_key, token))
        # Another process is loading this key: wait for its value a little, then load ourselves.
        deadline = self._clock() + LOCK_WAIT_S
        while self._clock() < deadline:
            await asyncio.sleep(LOCK_POLL_S)
            try:
                _, payload_or_none = await self._read(key, wallet_id)
            except Exception as exc:  # noqa: BLE001 - cache failure: load from the database
                self._breaker.failed("get", exc)
                break
            if payload_or_none is not None:
                return payload_or_none
        return await self._load_and_store(key, wallet_id, ttl, load)

    async def _load_and_store(self, key: str, wallet_id: int | None, ttl: float, load: Loader) -> bytes:
        # Check again first: a load that finished between our read and now has stored its value
        # (without this, a request that read just before that store would load a second time).
        # The generation read here (before loading) is the one stored: a bump after it marks the
        # stored value stale; a bump before it means the load already sees the new facts.
        try:
            gen, payload = await self._read(key, wallet_id)
        except Exception as exc:  # noqa: BLE001 - cache failure: load from the database
            self._breaker.failed("get", exc)
            return await load()
        if payload is not None:
            return payload
        payload = await self._watermarks.load_after_writes(wallet_id, load)
        await self._store(key, gen, payload, ttl)
        return payload

    async def _store(self, key: str, gen: int, payload: bytes, ttl: float) -> None:
        await self._breaker.guarded("set", self._cache.set(key, _pack(gen, payload), expire=ttl))

    async def delete(self, name: str, *parts: object) -> None:
        """Drop one entry here and in Redis. Other processes' first levels keep theirs until it ages
        out (5 s for entries not tied to a wallet): wallet entries go by `invalidate_wallet`."""
        if self.enabled:
            key = self.key(name, *parts)
            if self._local is not None:
                self._local.discard(key)
            await self._breaker.guarded("delete", self._cache.delete(key))

    async def invalidate_wallet(self, wallet_id: int) -> None:
        """Make every cached entry of this wallet stale (bumps its generation)."""
        await self._watermarks.raise_to_write_position(wallet_id)  # first: see cache_watermarks.py
        if not self.enabled:
            return
        bump = (
            self._local.invalidate(self._gen_key(wallet_id), wallet_id)  # INCR, published to all
            if self._local is not None
            else self._cache.incr(self._gen_key(wallet_id))
        )
        if await self._breaker.guarded("invalidate", bump):
            log.debug("cache.wallet.invalidated", wallet_id=wallet_id)

    # --- health -----------------------------------------------------------------------------------
    async def health(self) -> CacheHealth:
        """Ping the backend now; a failure marks it down like any other cache error."""
        if not self.enabled:
            return CacheHealth("off", True, "cache disabled (WALLETSYNC_CACHE=off)")
        try:
            await asyncio.wait_for(self._cache.ping(), timeout=REDIS_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - any failure means the cache is down
            self._breaker.failed("ping", exc)
            return CacheHealth(
                self.backend, False, f"unreachable, serving from the database ({self._breaker.last_error})"
            )
        self._breaker.answered()
        return CacheHealth(self.backend, True, "ok")

    async def clear_namespace(self) -> int:
        """Delete every key of this namespace (tests and benchmarks sharing a Redis)."""
        deleted = 0
        async for key in self._cache.scan(f"{self.namespace}:*"):
            await self._cache.delete(key)
            deleted += 1
        if self._local is not None:  # generations restart at 0: no process may trust what it holds
            await self._local.broadcast_reset()
        return deleted

    async def close(self) -> None:
        for task in list(self._inflight.values()):
            task.cancel()
        if self._local is not None:
            await self._local.close()
        with warnings.catch_warnings():
            # cashews 7.6 closes its Redis client with redis-py's deprecated `close()`.
            warnings.filterwarnings("ignore", "Call to deprecated close", DeprecationWarning)
            await self._cache.close()


def _pack(gen: int, payload: bytes) -> bytes:
    return b"%d:" % gen + payload


def _unpack(entry: object, gen: int) -> bytes | None:
    """The payload of a cached entry if it was written at generation `gen`."""
    if not isinstance(entry, bytes):
        return None
    stored_gen, sep, payload = entry.partition(b":")
    if not sep or not stored_gen.isdigit() or int(stored_gen) != gen:
        return None
    return payload


# --- the process's cache ---------------------------------------------------------------------------
_current: CacheLayer | None = None


def setup_cache(settings: Settings, *, clock: Callable[[], float] = time.monotonic) -> CacheLayer:
    """Create the process's cache layer (the API and the worker call this at start)."""
    global _current
    _current = CacheLayer(settings, clock=clock)
    return _current


async def teardown_cache(layer: CacheLayer | None = None) -> None:
    """Close `layer` (default: the process's), forgetting it if it is the process's."""
    global _current
    target = layer or _current
    if target is None:
        return
    if target is _current:
        _current = None
    await target.close()


def current_cache() -> CacheLayer | None:
    return _current


async def invalidate_wallet(wallet_id: int) -> None:
    """Drop the cached views of one wallet; the indexer calls this after a sync commits new facts.

    A no-op when this process has no cache set up (then nothing here can be stale).
    """
    if _current is not None:
        await _current.invalidate_wallet(wallet_id)
