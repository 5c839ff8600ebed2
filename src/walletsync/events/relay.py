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
  failure; different queues go out concurrently (`WEBHOOK_CONCURRENCY`). A request carries one
  event, or for a webhook with `batch_size` > 1 one batch of up to that many events of the wallet,
  in order (`claim.py` fixes a batch's composition when it is first leased; a failed batch is
  retried whole, under the same `webhook-id`).
- Results: 2xx delivered; 410 disables the webhook and ends its pending deliveries (`dead`, with the
  reason); anything else is retried after `RETRY_SCHEDULE_S` (27.6 h in all), then `dead`, listed for
  `redeliver`. Rows behind a failure wait for it.

The clock is injectable (`now`) so tests can run a day of retries in a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from typing import Any

import structlog

from walletsync.config import Settings
from walletsync.db.engine import Database
from walletsync.events import delivery, metrics
from walletsync.events.claim import LEASE_S, Batch, Claimed, QueueKey, Target, claim
from walletsync.events.envelope import StoredEvent
from walletsync.events.listen import OUTBOX_CHANNEL, Listener
from walletsync.events.outcomes import record
from walletsync.events.publish import PUBLISH_BATCH, publish
from walletsync.events.wake import RedisAnnouncer, channel_of
from walletsync.providers.http import ResilientClient

log = structlog.get_logger(__name__)

Clock = Callable[[], datetime]
POLL_S = 1.0
RELAY_POOL_SIZE = 4


def utcnow() -> datetime:
    return datetime.now(UTC)


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
        async with self.db.write() as conn:
            return await claim(conn, self.now(), busy=busy, max_queues=max_queues)

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
        """Send a queue's requests in order, stopping at the first failure; then record it all.

        A request is one event (`webhook-id` = the event id) or, for a batched webhook, one stored
        batch (`webhook-id` = `batch_<head>`, the envelope of `delivery.batch_body`)."""
        client = self._client(batch.target)
        delivered: list[tuple[int, int]] = []
        failed: tuple[list[Claimed], delivery.Attempt] | None = None
        loop = asyncio.get_running_loop()
        started = loop.time()
        for chunk in batch.chunks:
            if loop.time() - started > LEASE_S / 2:
                break  # leave the rest to the next claim, well inside the lease
            if batch.target.batch_size > 1:
                msg_id = f"batch_{chunk[0].batch_head}"
                body = delivery.batch_body(msg_id, [events[row.outbox_id].body for row in chunk])
            else:
                event = events[chunk[0].outbox_id]
                msg_id, body = str(event.id), event.body
            result = await delivery.attempt(client, msg_id, body, batch.target.keys)
            metrics.ATTEMPT_SECONDS.observe(result.seconds)
            if result.ok:
                delivered.extend((row.id, result.status or 0) for row in chunk)
                continue
            failed = (chunk, result)
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
