"""Live event streams: one hub per API process fanning published events out to SSE and WebSocket clients.

The hub LISTENs on `walletsync_events` (NOTIFYed by every publication, from any process; or, with
Redis configured, SUBSCRIBEs to the relay's announcements: `wake.py`), reads the
outbox from its position by `seq`, and offers each event to the matching subscribers' bounded queues.
A subscriber that lets its queue fill is dropped with a reason (it reconnects with its last id and
misses nothing) instead of making the hub buffer without bound. A subscriber resuming from an id
first replays `seq` in (last id, hub position] from the outbox, then takes the live queue, skipping
anything it already sent: registration and the position are read in one step of the event loop, so
nothing falls between the two.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import BigInteger, Select, Text, any_, func, literal, or_, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

from walletsync.config import Settings
from walletsync.db.engine import Database
from walletsync.db.models import outbox, wallets
from walletsync.events import metrics
from walletsync.events.envelope import StoredEvent, build, event_query
from walletsync.events.listen import PUBLISHED_CHANNEL, Listener
from walletsync.events.wake import RedisWake, channel_of

log = structlog.get_logger(__name__)

PAGE = 500
POLL_S = 2.0


async def stream_position(conn: AsyncConnection) -> int:
    """The last published `seq` (0 when none): a stream opened with `after=` this position gets
    every event published since it was read. A page reads it before its data (on the same
    connection), so an event committed between the render and its `EventSource` opening is replayed,
    never missed (one already in the rendered data may come again: it only triggers a re-read)."""
    return int(await conn.scalar(select(func.coalesce(func.max(outbox.c.seq), 0))) or 0)


class StreamClosed(Exception):
    """The server ended a stream; `reason` says why (sent to the client)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TooManyStreams(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Filters:
    wallet_ids: frozenset[int] | None = None
    groups: frozenset[str] | None = None
    topics: frozenset[str] | None = None

    def matches(self, event: StoredEvent) -> bool:
        if self.topics is not None and event.topic not in self.topics:
            return False
        if self.wallet_ids is None and self.groups is None:
            return True
        return bool(self.wallet_ids and event.wallet_id in self.wallet_ids) or bool(
            self.groups and event.group in self.groups
        )

    def apply(self, query: Select[Any]) -> Select[Any]:
        if self.topics is not None:
            query = query.where(outbox.c.topic == any_(literal(sorted(self.topics), ARRAY(Text))))
        either = []
        if self.wallet_ids:
            wallet_id = outbox.c.payload["wallet_id"].astext.cast(BigInteger)
            either.append(wallet_id == any_(literal(sorted(self.wallet_ids), ARRAY(BigInteger))))
        if self.groups:
            either.append(wallets.c.group_name == any_(literal(sorted(self.groups), ARRAY(Text))))
        return query.where(or_(*either)) if either else query


class Subscriber:
    def __init__(self, filters: Filters, buffer: int) -> None:
        self.filters = filters
        self.buffer = buffer
        self.queue: asyncio.Queue[StoredEvent | None] = asyncio.Queue(maxsize=buffer + 1)
        self.dropped: str | None = None

    def offer(self, event: StoredEvent) -> None:
        if self.dropped is not None or not self.filters.matches(event):
            return
        if self.queue.qsize() >= self.buffer:
            self.dropped = (
                f"too slow: more than {self.buffer} events waiting; reconnect with your last event id"
            )
            metrics.STREAM_DROPPED.labels("slow").inc()
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(None)
            return
        self.queue.put_nowait(event)


async def _flatten(lists: AsyncIterator[list[StoredEvent]]) -> AsyncIterator[StoredEvent]:
    async for events in lists:
        for event in events:
            yield event


def sse_frame(event: StoredEvent) -> bytes:
    """The event as one Server-Sent Events frame, from its stored bytes (no re-encoding): what
    `sse_starlette.ServerSentEvent(data=body, id=seq, event=topic).encode()` writes, since the
    body (orjson) holds no line break."""
    return b"id: %d\r\nevent: %s\r\ndata: %s\r\n\r\n" % (event.seq or 0, event.topic.encode(), event.body)


class Hub:
    """The process's event fan-out; started by its first subscriber, closed with the app."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.position = 0
        self._subscribers: set[Subscriber] = set()
        self._per_key: Counter[str] = Counter()
        self._wake = asyncio.Event()
        self._start_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._listener: Listener | RedisWake | None = None

    async def start(self) -> None:
        async with self._start_lock:
            if self._task is not None:
                return
            async with self.db.primary.connect() as conn:
                self.position = await stream_position(conn)
            if self.settings.redis_url:
                self._listener = RedisWake(
                    self.settings.redis_url, channel_of(self.settings.cache_namespace), self._wake.set
                )
            else:
                self._listener = Listener(self.db.direct_url, [PUBLISHED_CHANNEL], self._wake.set)
            self._listener.start()
            self._task = asyncio.create_task(self._run(), name="events-hub")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._listener is not None:
            await self._listener.close()
            self._listener = None
        for sub in list(self._subscribers):
            sub.dropped = sub.dropped or "the server is shutting down"
            sub.queue.put_nowait(None)

    # --- connections per key -----------------------------------------------------------------

    def acquire(self, key: str) -> None:
        if self._per_key[key] >= self.settings.events_stream_max_per_key:
            raise TooManyStreams(
                f"at most {self.settings.events_stream_max_per_key} live streams per API key "
                "(WALLETSYNC_EVENTS_STREAM_MAX_PER_KEY)"
            )
        self._per_key[key] += 1

    def release(self, key: str) -> None:
        self._per_key[key] -= 1
        if self._per_key[key] <= 0:
            del self._per_key[key]

    # --- subscribing ---------------------------------------------------------------------------

    @asynccontextmanager
    async def subscribe(
        self, filters: Filters, *, after: int | None, kind: str
    ) -> AsyncIterator[AsyncIterator[StoredEvent]]:
        """The subscriber's events from `after` (a `seq`; None: from now) for the block."""
        async with self.subscribe_lists(filters, after=after, kind=kind) as lists:
            yield _flatten(lists)

    @asynccontextmanager
    async def subscribe_lists(
        self, filters: Filters, *, after: int | None, kind: str
    ) -> AsyncIterator[AsyncIterator[list[StoredEvent]]]:
        """As `subscribe`, in lists of whatever is ready at once (a replay page, or the live events
        queued since the last step): a stream writes each list in one go instead of one by one."""
        await self.start()
        sub = Subscriber(filters, self.settings.events_stream_buffer)
        self._subscribers.add(sub)
        upto = self.position  # same event-loop step as the registration: no gap, no overlap
        metrics.STREAM_CLIENTS.labels(kind).inc()
        try:
            yield self._lists(sub, upto if after is None else after, upto)
        finally:
            self._subscribers.discard(sub)
            metrics.STREAM_CLIENTS.labels(kind).dec()

    async def _lists(self, sub: Subscriber, cursor: int, upto: int) -> AsyncIterator[list[StoredEvent]]:
        while cursor < upto:
            page = await self._read(cursor, upto, sub.filters)
            if page:
                yield page
            cursor = (page[-1].seq or cursor) if len(page) == PAGE else upto
        while True:
            ready = [await sub.queue.get()]
            while len(ready) < PAGE and not sub.queue.empty():
                ready.append(sub.queue.get_nowait())
            fresh = []
            for item in ready:
                if item is not None and item.seq is not None and item.seq > cursor:
                    cursor = item.seq
                    fresh.append(item)
            if fresh:
                yield fresh
            if ready[-1] is None:  # the end marker is always the last item queued
                raise StreamClosed(sub.dropped or "closed")

    async def _read(self, after: int, upto: int | None, filters: Filters | None) -> list[StoredEvent]:
        query = event_query().where(outbox.c.seq > after)
        if upto is not None:
            query = query.where(outbox.c.seq <= upto)
        if filters is not None:
            query = filters.apply(query)
        async with self.db.primary.connect() as conn:
            rows = (await conn.execute(query.order_by(outbox.c.seq).limit(PAGE))).all()
            return await build(conn, rows)

    # --- the fan-out loop ----------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                while True:
                    page = await self._read(self.position, None, None)
                    for event in page:
                        for sub in list(self._subscribers):
                            sub.offer(event)
                    if page:
                        self.position = max(self.position, page[-1].seq or 0)
                    if len(page) < PAGE:
                        break
            except Exception as exc:  # noqa: BLE001 - the hub outlives a database restart
                log.warning("events.hub.failed", error=f"{type(exc).__name__}: {exc}".splitlines()[0][:300])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_S)
