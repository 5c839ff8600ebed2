"""The relay: publish new outbox rows, then deliver due webhook deliveries; in a loop or as one pass.

Delivery is at least once, in per-wallet order for each webhook:

- Claiming (`FOR UPDATE SKIP LOCKED`, one short transaction) takes due pending deliveries and keeps,
  for each (webhook, wallet), only an unbroken prefix of that queue: the first claimed row must be
  the oldest pending one. Kept rows get a lease (`next_attempt_at` pushed `LEASE_S` ahead) instead of
  a lock held over the network, so no transaction stays open while a receiver is slow; a relay that
  dies mid-send leaves rows that fall due again when the lease ends (delivered twice at worst; the
  `webhook-id` lets receivers drop the copy). Rows queued behind a row still waiting are pushed to
  that row's time, so a failing head does not make its followers due over and over.
- Sending: each (webhook, wallet) queue is sent one request at a time, stopping at the first
  failure; different queues go out concurrently (`WEBHOOK_CONCURRENCY`).
- Results: 2xx delivered; 410 disables the webhook and ends its pending deliveries (`dead`, with the
  reason); anything else is retried after `RETRY_SCHEDULE_S` (27.6 h in all), then `dead`, listed for
  `redeliver`. Rows behind a failure wait for it.

The clock is injectable (`now`) so tests can run a day of retries in a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import BigInteger, any_, literal, select, tuple_, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

from walletsync.config import Settings
from walletsync.db.engine import Database
from walletsync.db.models import webhook_deliveries, webhooks
from walletsync.events import delivery, metrics
from walletsync.events.envelope import StoredEvent, events_by_id
from walletsync.events.listen import OUTBOX_CHANNEL, Listener
from walletsync.events.outcomes import record
from walletsync.events.publish import PUBLISH_BATCH, publish
from walletsync.events.wake import RedisAnnouncer, channel_of
from walletsync.providers.http import ResilientClient

log = structlog.get_logger(__name__)

Clock = Callable[[], datetime]
QueueKey = tuple[int, int]  # (webhook id, wallet id): one ordered delivery queue
D = webhook_deliveries
LEASE_S = 120.0
CLAIM_LIMIT = 500
QUEUE_LIMIT = 200  # rows of one (webhook, wallet) queue per claim
POLL_S = 1.0
RELAY_POOL_SIZE = 4


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Target:
    id: int
    url: str
    keys: list[str]  # signing secrets valid now, current first


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    outbox_id: int
    attempts: int


@dataclass
class Batch:
    target: Target
    rows: list[Claimed]
    wallet_id: int

    @property
    def key(self) -> QueueKey:
        return (self.target.id, self.wallet_id)


class Relay:
    """Publishes and delivers for one process; `run()` loops, `publish_once`/`deliver_once` step."""

    def __init__(self, db: Database, settings: Settings, *, now: Clock = utcnow) -> None:
        self.db = db
        self.settings = settings
        self.now = now
        # The breakers of webhook clients follow the injected clock too (tests run days in a second).
        self._monotonic: Callable[[], float] = time.monotonic if now is utcnow else lambda: now().timestamp()
        self._clients: dict[tuple[int, str], ResilientClient] = {}
        self._announcer: RedisAnnouncer | None = None
        self._outbox_wake = asyncio.Event()
        self._send_wake = asyncio.Event()

    # --- steps ---------------------------------------------------------------------------------

    async def publish_once(self, limit: int = PUBLISH_BATCH) -> int:
        async with self.db.write() as conn:
            published = await publish(conn, now=self.now(), limit=limit)
        if published and self.settings.redis_url:
            if self._announcer is None:
                self._announcer = RedisAnnouncer(
                    self.settings.redis_url, channel_of(self.settings.cache_namespace)
                )
            await self._announcer.announce(published)  # after the commit: readers will see the rows
        return published

    async def deliver_once(self) -> int:
        """Claim what is due, send it, record the outcomes; return how many rows were claimed."""
        batches, events = await self._claim()
        if not batches:
            return 0
        limit = asyncio.Semaphore(self.settings.webhook_concurrency)

        async def run(batch: Batch) -> None:
            async with limit:
                await self._send(batch, events)

        await asyncio.gather(*(run(b) for b in batches))
        return sum(len(b.rows) for b in batches)

    async def drain(self, *, max_rounds: int = 10_000) -> None:
        """Publish and deliver until nothing is due now (tests, the periodic job, the CLI)."""
        for _ in range(max_rounds):
            published = await self.publish_once()
            sent = await self.deliver_once()
            if not published and not sent:
                return

    # --- the loop ------------------------------------------------------------------------------

    async def run(self) -> None:
        """Publish and deliver until cancelled; woken by the outbox trigger, polling every second."""
        listener = Listener(self.db.direct_url, [OUTBOX_CHANNEL], self._outbox_wake.set)
        listener.start()
        log.info("events.relay.started")
        try:
            await asyncio.gather(
                self._loop(self._publish_step, self._outbox_wake),
                self._deliver_forever(),
            )
        finally:
            await listener.close()
            await self.aclose()

    async def _publish_step(self) -> bool:
        published = await self.publish_once()
        if published:
            self._send_wake.set()
        return published >= PUBLISH_BATCH

    async def _deliver_forever(self) -> None:
        """Keep up to `WEBHOOK_CONCURRENCY` queues in flight; claim more as soon as one finishes."""
        inflight: dict[QueueKey, asyncio.Task[None]] = {}
        limit = self.settings.webhook_concurrency
        while True:
            self._send_wake.clear()
            claimed = 0
            if len(inflight) < limit:
                try:
                    batches, events = await self._claim(busy=set(inflight), max_queues=limit - len(inflight))
                except Exception as exc:  # noqa: BLE001 - the relay outlives a database restart
                    log.warning(
                        "events.relay.failed", error=f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
                    )
                    batches, events = [], {}
                    await asyncio.sleep(POLL_S)
                for batch in batches:
                    task = asyncio.create_task(self._send_logged(batch, events))
                    inflight[batch.key] = task
                    task.add_done_callback(_forget(inflight, batch.key))
                    claimed += 1
            if claimed and len(inflight) < limit:
                continue  # more may be due right now
            wake = asyncio.ensure_future(self._send_wake.wait())
            try:
                await asyncio.wait(
                    {wake, *inflight.values()}, timeout=POLL_S, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                wake.cancel()

    async def _send_logged(self, batch: Batch, events: dict[int, StoredEvent]) -> None:
        try:
            await self._send(batch, events)
        except Exception as exc:  # noqa: BLE001 - its rows fall due again when their lease ends
            log.warning(
                "events.relay.send_failed", error=f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
            )

    async def _loop(self, step: Callable[[], Any], wake: asyncio.Event) -> None:
        while True:
            wake.clear()
            try:
                more = await step()
            except Exception as exc:  # noqa: BLE001 - the relay outlives a database restart
                log.warning("events.relay.failed", error=f"{type(exc).__name__}: {exc}".splitlines()[0][:300])
                more = False
                await asyncio.sleep(POLL_S)
            if not more:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), POLL_S)

    async def aclose(self) -> None:
        if self._announcer is not None:
            await self._announcer.close()
            self._announcer = None
        clients, self._clients = list(self._clients.values()), {}
        await asyncio.gather(*(c.aclose() for c in clients), return_exceptions=True)

    # --- claiming ------------------------------------------------------------------------------

    async def _claim(
        self, *, busy: Collection[QueueKey] = (), max_queues: int | None = None
    ) -> tuple[list[Batch], dict[int, StoredEvent]]:
        """Claim due rows, at most `max_queues` queues, none of the `busy` ones (in flight here)."""
        now = self.now()
        async with self.db.write() as conn:
            query = (
                select(D.c.id, D.c.webhook_id, D.c.wallet_id, D.c.outbox_id, D.c.attempts)
                .select_from(D.join(webhooks, webhooks.c.id == D.c.webhook_id))
                .where(D.c.status == "pending", D.c.next_attempt_at <= now, webhooks.c.active)
                .order_by(D.c.outbox_id)
                .limit(CLAIM_LIMIT)
                .with_for_update(of=D, skip_locked=True)
            )
            if busy:
                query = query.where(tuple_(D.c.webhook_id, D.c.wallet_id).not_in(list(busy)))
            due: Sequence[Any] = (await conn.execute(query)).all()
            if not due:
                return [], {}
            queues: dict[tuple[int, int], list[Any]] = defaultdict(list)
            for row in due:
                key = (row.webhook_id, row.wallet_id)
                if key in queues or max_queues is None or len(queues) < max_queues:
                    queues[key].append(row)
            heads = await self._pending(conn, queues)
            kept: dict[int, list[Claimed]] = defaultdict(list)
            lease_ids: list[int] = []
            for key, rows in queues.items():
                pending = heads.get(key, [])
                for i, row in enumerate(rows[:QUEUE_LIMIT]):
                    if i >= len(pending) or pending[i][0] != row.outbox_id:
                        # Something older is pending (leased, backing off, or held by another relay).
                        wait_until = pending[i][1] if i < len(pending) else now
                        if wait_until > now:
                            await self._defer(conn, [r.id for r in rows[i:]], wait_until)
                        break
                    kept[row.webhook_id].append(Claimed(row.id, row.outbox_id, row.attempts))
                    lease_ids.append(row.id)
            if not lease_ids:
                return [], {}
            await self._defer(conn, lease_ids, now + timedelta(seconds=LEASE_S))
            targets = await self._targets(conn, set(kept), now)
            events = await events_by_id(conn, sorted({c.outbox_id for rows in kept.values() for c in rows}))
        batches: list[Batch] = []
        for (webhook_id, wallet_id), rows in queues.items():
            mine = {c.id for c in kept.get(webhook_id, [])}
            chosen = [Claimed(r.id, r.outbox_id, r.attempts) for r in rows if r.id in mine]
            if chosen and webhook_id in targets:
                batches.append(Batch(targets[webhook_id], chosen, wallet_id))
        return batches, events

    async def _pending(
        self, conn: AsyncConnection, queues: dict[tuple[int, int], list[Any]]
    ) -> dict[tuple[int, int], list[tuple[int, datetime]]]:
        """Each queue's pending rows up to its last claimed one, oldest first: (outbox id, due time)."""
        upto = max(row.outbox_id for rows in queues.values() for row in rows)
        rows = await conn.execute(
            select(D.c.webhook_id, D.c.wallet_id, D.c.outbox_id, D.c.next_attempt_at)
            .where(D.c.status == "pending", D.c.outbox_id <= upto)
            .where(tuple_(D.c.webhook_id, D.c.wallet_id).in_(list(queues)))
            .order_by(D.c.outbox_id)
        )
        found: dict[tuple[int, int], list[tuple[int, datetime]]] = defaultdict(list)
        for r in rows:
            found[(r.webhook_id, r.wallet_id)].append((r.outbox_id, r.next_attempt_at))
        return found

    async def _defer(self, conn: AsyncConnection, ids: list[int], until: datetime) -> None:
        await conn.execute(
            update(D).where(D.c.id == any_(literal(ids, ARRAY(BigInteger)))).values(next_attempt_at=until)
        )

    async def _targets(self, conn: AsyncConnection, ids: set[int], now: datetime) -> dict[int, Target]:
        rows = await conn.execute(
            select(
                webhooks.c.id,
                webhooks.c.url,
                webhooks.c.secret,
                webhooks.c.previous_secret,
                webhooks.c.previous_secret_expires_at,
            ).where(webhooks.c.id == any_(literal(sorted(ids), ARRAY(BigInteger))))
        )
        targets = {}
        for r in rows:
            keys = [r.secret]
            if r.previous_secret and r.previous_secret_expires_at and r.previous_secret_expires_at > now:
                keys.append(r.previous_secret)
            targets[r.id] = Target(r.id, r.url, keys)
        return targets

    # --- sending -------------------------------------------------------------------------------

    def _client(self, target: Target) -> ResilientClient:
        key = (target.id, target.url)
        client = self._clients.get(key)
        if client is None:
            client = self._clients[key] = delivery.webhook_client(
                target.url, self.settings, clock=self._monotonic
            )
        return client

    async def _send(self, batch: Batch, events: dict[int, StoredEvent]) -> None:
        client = self._client(batch.target)
        delivered: list[tuple[int, int]] = []
        failed: tuple[Claimed, delivery.Attempt] | None = None
        started = asyncio.get_running_loop().time()
        sent = 0
        for row in batch.rows:
            if asyncio.get_running_loop().time() - started > LEASE_S / 2:
                break  # leave the rest to the next claim, well inside the lease
            event = events[row.outbox_id]
            result = await delivery.attempt(client, str(event.id), event.body, batch.target.keys)
            metrics.ATTEMPT_SECONDS.observe(result.seconds)
            sent += 1
            if result.ok:
                delivered.append((row.id, result.status or 0))
                continue
            failed = (row, result)
            break
        async with self.db.write() as conn:
            await record(
                conn,
                webhook_id=batch.target.id,
                wallet_id=batch.wallet_id,
                first=batch.rows[0],
                delivered=delivered,
                failed=failed,
                now=self.now(),
            )


def _forget(
    inflight: dict[QueueKey, asyncio.Task[None]], key: QueueKey
) -> Callable[[asyncio.Task[None]], None]:
    def done(_: asyncio.Task[None]) -> None:
        inflight.pop(key, None)

    return done


def start_relay(db: Database, settings: Settings) -> asyncio.Task[None] | None:
    """The relay as a background task of a long-running process (`worker`, `serve`), if enabled."""
    if not settings.events_relay:
        return None
    return asyncio.create_task(_run_on_own_pool(db, settings), name="events-relay")


async def _run_on_own_pool(db: Database, settings: Settings) -> None:
    # A pool of its own: syncs running in the same process must not keep the relay waiting for a
    # connection (publishing is what live streams wait on).
    small = settings.model_copy(update={"database_pool_size": RELAY_POOL_SIZE, "database_max_overflow": 2})
    own = Database.from_settings(db.url, small, application_name="walletsync-relay")
    try:
        await Relay(own, settings).run()
    finally:
        await own.dispose()


async def stop_relay(task: asyncio.Task[None] | None) -> None:
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
