"""The cache's first level: recent payloads in this process's memory, in front of Redis.

A hit here costs no Redis round trip. It stays correct under invalidation because every process
hears every wallet invalidation: `invalidate_wallet` increments the wallet's generation and
publishes the new value on one channel in a single Redis script (both happen or neither), and each
process's listener applies it. Every entry remembers the generation it was read at, and an entry
is served or stored only while that generation is not older than the newest one heard, so the order
in which a reply and an invalidation arrive does not matter: an entry read before a write can never
be stored after hearing of it. What remains is delivery latency (a published message reaches the
other processes within a few milliseconds): the same order as the moment between a sync's commit
and its invalidation, which the second level already has.

Served only while the subscription is known to be alive (a message or a ping answered within
`LIVENESS_S`); when it drops, the level is emptied and bypassed until the listener has subscribed
again, because messages published meanwhile are lost. Entries not tied to a wallet (leaderboards)
stay at most `UNTIED_MAX_AGE_S`: they have no invalidation, only a TTL in Redis, and this bounds how
much older than Redis's copy they can be.

Hand-written rather than cashews' client-side backend (Redis CLIENT TRACKING): that backend stores
a value read from Redis even when the key's invalidation overtook the reply on the other connection,
so a wallet's generation could stay stale until its next write.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import structlog
from prometheus_client import Counter
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

log = structlog.get_logger(__name__)

LIVENESS_S = 3.0  # serve only if the subscription answered within this long
PING_EVERY_S = 1.0
UNTIED_MAX_AGE_S = 5.0
RECONNECT_S = 1.0
MAX_KNOWN_WALLETS = 200_000
RESET = b"reset"  # generations remembered; beyond it everything is dropped and relearned

# INCR the generation and PUBLISH "<wallet id>:<generation>" atomically; returns the generation.
_INVALIDATE = """
local gen = redis.call('INCR', KEYS[1])
redis.call('PUBLISH', ARGV[1], ARGV[2] .. ':' .. gen)
return gen
"""

LOCAL_HITS = Counter(
    "walletsync_cache_local_hits_total",
    "Cache hits served from the process's first level (no Redis round trip), by cache name.",
    ["name"],
)
LOCAL_RESETS = Counter(
    "walletsync_cache_local_resets_total",
    "Times the first level was emptied because its invalidation subscription was (re)established or lost.",
)


@dataclass(slots=True)
class _Entry:
    wallet_id: int | None
    gen: int
    payload: bytes
    expires_at: float


class LocalTier:
    """An LRU of payloads bounded in bytes, kept true by the invalidation channel."""

    def __init__(
        self,
        redis_url: str,
        channel: str,
        *,
        max_bytes: int,
        timeout_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.channel = channel
        self._max_bytes = max_bytes
        self._clock = clock
        # No client-side retries: a reconnect that resubscribed silently would hide lost messages.
        self._redis = Redis.from_url(
            redis_url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),
            client_name=f"{channel}-listener",
        )
        self._invalidate = self._redis.register_script(_INVALIDATE)  # EVALSHA, loaded on first use
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._bytes = 0
        self._by_wallet: dict[int, set[str]] = {}
        self._known: dict[int, int] = {}  # wallet id -> newest generation heard
        self._epoch = 0  # bumped at every reset: a read begun before one is never stored
        self._alive_until = 0.0
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    # --- reads and stores ------------------------------------------------------------------------
    @property
    def serving(self) -> bool:
        return self._clock() < self._alive_until

    def epoch(self) -> int:
        return self._epoch

    def get(self, name: str, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None or not self.serving:
            return None
        if self._clock() >= entry.expires_at or (
            entry.wallet_id is not None and entry.gen < self._known.get(entry.wallet_id, 0)
        ):
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        LOCAL_HITS.labels(name).inc()
        return entry.payload

    def put(self, key: str, wallet_id: int | None, gen: int, payload: bytes, ttl: float, epoch: int) -> None:
        """Keep `payload`, read at generation `gen` during `epoch`, unless anything newer was heard."""
        if epoch != self._epoch or not self.serving or len(payload) > self._max_bytes // 4:
            return
        if wallet_id is not None and gen < self._known.get(wallet_id, 0):
            return
        age = ttl if wallet_id is not None else min(ttl, UNTIED_MAX_AGE_S)
        self._drop(key)
        self._entries[key] = _Entry(wallet_id, gen, payload, self._clock() + age)
        self._bytes += len(payload)
        if wallet_id is not None:
            self._by_wallet.setdefault(wallet_id, set()).add(key)
        while self._bytes > self._max_bytes:
            self._drop(next(iter(self._entries)))

    def discard(self, key: str) -> None:
        self._drop(key)

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        self._bytes -= len(entry.payload)
        if entry.wallet_id is not None:
            keys = self._by_wallet.get(entry.wallet_id)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_wallet[entry.wallet_id]

    # --- invalidation ----------------------------------------------------------------------------
    async def invalidate(self, gen_key: str, wallet_id: int) -> int:
        """Bump the wallet's generation and tell every process; return the new generation."""
        gen = int(await self._invalidate(keys=[gen_key], args=[self.channel, str(wallet_id)]))
        self.heard(wallet_id, gen)
        return gen

    async def broadcast_reset(self) -> None:
        """Tell every process to empty its first level (the namespace was cleared)."""
        await self._redis.publish(self.channel, RESET)

    def heard(self, wallet_id: int, gen: int) -> None:
        known = self._known.get(wallet_id, 0)
        if gen == known:  # our own invalidation, echoed
            return
        if gen < known or (wallet_id not in self._known and len(self._known) >= MAX_KNOWN_WALLETS):
            # A generation went backwards (Redis lost its keys: flushed, restored) or too many are
            # remembered: start over rather than trust anything held.
            self.reset(alive=self.serving)
        self._known[wallet_id] = gen
        for key in list(self._by_wallet.get(wallet_id, ())):
            self._drop(key)

    def reset(self, *, alive: bool) -> None:
        self._entries.clear()
        self._by_wallet.clear()
        self._known.clear()
        self._bytes = 0
        self._epoch += 1
        if not alive:
            self._alive_until = 0.0
        LOCAL_RESETS.inc()

    # --- the listener ----------------------------------------------------------------------------
    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._listen_forever(), name="cache-invalidations")

    async def _listen_forever(self) -> None:
        while not self._closing:
            pubsub = self._redis.pubsub()
            try:
                await self._listen(pubsub)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure: empty, bypass, resubscribe
                if self.serving or self._epoch == 0:
                    log.warning("cache.local.unsubscribed", error=f"{type(exc).__name__}: {exc}")
                self.reset(alive=False)
                await asyncio.sleep(RECONNECT_S)
            finally:
                await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it untyped

    async def _listen(self, pubsub: PubSub) -> None:
        await pubsub.subscribe(self.channel)
        next_ping = 0.0
        while not self._closing:
            message = await pubsub.get_message(timeout=PING_EVERY_S / 2)
            now = self._clock()
            if message is not None:
                kind = message["type"]
                if kind == "subscribe":  # (re)subscribed: what was published before is unknown
                    self.reset(alive=True)
                    log.debug("cache.local.subscribed", channel=self.channel)
                elif kind == "message" and message["data"] == RESET:
                    self.reset(alive=True)
                elif kind == "message":
                    wallet, _, gen = message["data"].partition(b":")
                    self.heard(int(wallet), int(gen))
                elif kind != "pong":
                    continue
                if self._epoch > 0:
                    self._alive_until = now + LIVENESS_S
            if now >= next_ping:
                await pubsub.ping()  # answered as a "pong" message above
                next_ping = now + PING_EVERY_S

    async def close(self) -> None:
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._redis.aclose()
