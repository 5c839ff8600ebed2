"""Wake-ups over Redis pub/sub, for API processes when Redis is configured (instead of LISTEN).

With `WALLETSYNC_REDIS_URL` set, the relay PUBLISHes a wake-up (the count it published) on
`<namespace>:events` after each publication commits, and each API process's hub SUBSCRIBEs there
instead of holding a LISTEN session on PostgreSQL: no direct database connection per API process,
which matters behind PgBouncer. As with NOTIFY, a message is only a wake-up; the hub reads the
outbox from its position, so a message lost while Redis was away costs latency (the hub also
re-reads on reconnect and on a timer), never an event.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

log = structlog.get_logger(__name__)

TIMEOUT_S = 2.0
RECONNECT_MAX_S = 10.0


def channel_of(namespace: str) -> str:
    return f"{namespace}:events"


class RedisAnnouncer:
    """The relay's side: one PUBLISH per publication; failures are logged, never raised."""

    def __init__(self, url: str, channel: str) -> None:
        self.channel = channel
        self._redis = Redis.from_url(url, socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S)

    async def announce(self, last_seq: int) -> None:
        try:
            await self._redis.publish(self.channel, str(last_seq))
        except (RedisError, OSError) as exc:
            log.warning("events.wake.publish_failed", error=type(exc).__name__)

    async def close(self) -> None:
        await self._redis.aclose()


class RedisWake:
    """The hub's side: calls `on_wake()` per message and after every (re)subscription."""

    def __init__(self, url: str, channel: str, on_wake: Callable[[], None]) -> None:
        self._url = url
        self._channel = channel
        self._on_wake = on_wake
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="events-redis-wake")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        delay = 0.5
        while True:
            redis = Redis.from_url(self._url, socket_connect_timeout=TIMEOUT_S)
            try:
                async with redis.pubsub() as pubsub:
                    await pubsub.subscribe(self._channel)
                    delay = 0.5
                    self._on_wake()  # anything published while we were not subscribed
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            self._on_wake()
            except (RedisError, OSError) as exc:
                log.warning("events.wake.lost", error=type(exc).__name__, retry_in_s=delay)
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await redis.aclose()
            await asyncio.sleep(delay)
            delay = min(RECONNECT_MAX_S, delay * 2)
