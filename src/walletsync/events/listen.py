"""PostgreSQL LISTEN on a dedicated session connection, reconnecting forever; wake-ups, not data.

Notifications only say "something new committed": readers then query the outbox from their own
position, so a notification lost while disconnected costs nothing but latency (every (re)connect
also wakes the reader, and readers poll on a timer besides). LISTEN needs a session connection, so it
uses the direct URL (`DATABASE_DIRECT_URL`), never PgBouncer in transaction mode. SQLAlchemy has no
LISTEN API, hence asyncpg's own `add_listener` on a connection this module owns.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence

import asyncpg
import structlog

from walletsync.db.engine import libpq_url

log = structlog.get_logger(__name__)

OUTBOX_CHANNEL = "walletsync_outbox"  # rows inserted (trigger of migration 0007)
PUBLISHED_CHANNEL = "walletsync_events"  # rows published by the relay; payload: the last seq
RECONNECT_MAX_S = 10.0


class Listener:
    """Calls `on_wake()` on every notification of `channels` and after every (re)connection."""

    def __init__(self, url: str, channels: Sequence[str], on_wake: Callable[[], None]) -> None:
        self._dsn = libpq_url(url)
        self._channels = tuple(channels)
        self._on_wake = on_wake
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"listen-{'+'.join(self._channels)}")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _notified(self, *_: object) -> None:
        self._on_wake()

    async def _run(self) -> None:
        delay = 0.5
        while True:
            lost = asyncio.Event()
            try:
                conn = await asyncpg.connect(
                    self._dsn, server_settings={"application_name": "walletsync-listen"}
                )
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("events.listen.connect_failed", error=type(exc).__name__, retry_in_s=delay)
                await asyncio.sleep(delay)
                delay = min(RECONNECT_MAX_S, delay * 2)
                continue
            try:
                conn.add_termination_listener(lambda _conn, lost=lost: lost.set())
                for channel in self._channels:
                    await conn.add_listener(channel, self._notified)
                delay = 0.5
                self.connected.set()
                self._on_wake()  # anything committed while we were not listening
                await lost.wait()
                log.warning("events.listen.lost", channels=list(self._channels))
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("events.listen.failed", error=type(exc).__name__)
            finally:
                self.connected.clear()
                with contextlib.suppress(Exception):
                    await asyncio.shield(conn.close(timeout=2))
            await asyncio.sleep(delay)
