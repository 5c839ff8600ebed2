"""Retention: old, published, settled events and their delivery logs go; nothing else does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update

from walletsync.config import Settings
from walletsync.db.engine import Database
from walletsync.db.models import outbox, webhook_deliveries
from walletsync.events import registry
from walletsync.events.relay import Relay
from walletsync.events.retention import prune_events

from .conftest import Receiver, add_tx_events, add_wallet

WEEK = 7 * 86400


async def _ids(db: Database) -> list[str]:
    async with db.primary.connect() as conn:
        rows = await conn.execute(select(outbox.c.payload["tx_id"].astext).order_by(outbox.c.id))
        return list(rows.scalars())


async def test_prunes_only_old_settled_events_with_their_deliveries(
    db: Database, event_settings: Settings, receiver: Receiver, database_url: str
) -> None:
    edb = Database.from_settings(database_url, event_settings)  # one pooled connection
    try:
        async with edb.write() as conn:
            hook = await registry.create_webhook(conn, url=receiver.url)
            off = await registry.create_webhook(conn, url=receiver.url, topics=["sync.failed"])
            a = await add_wallet(conn, "A" * 44)
            await add_tx_events(conn, a, "A" * 44, [f"old{i}" for i in range(24)])
        relay = Relay(edb, event_settings)
        try:
            await relay.drain()  # all 24 delivered to `hook`
            async with edb.write() as conn:
                await add_tx_events(conn, a, "A" * 44, ["stuck"])
            await relay.publish_once()  # published, its delivery left pending (receiver never asked)
        finally:
            await relay.aclose()
        async with edb.write() as conn:
            await add_tx_events(conn, a, "A" * 44, ["unpublished"])
            # A pending delivery of a switched-off webhook, for the last delivered event.
            await registry.set_active(conn, off.webhook.id, active=False, reason="operator")
            last = await conn.scalar(
                select(func.max(outbox.c.id)).where(outbox.c.payload["tx_id"].astext == "old23")
            )
            await conn.execute(
                webhook_deliveries.insert().values(webhook_id=off.webhook.id, outbox_id=last, wallet_id=a)
            )
        created = datetime.now(UTC)
        # Within the window nothing goes, however often it runs.
        for _ in range(3):
            report = await prune_events(edb, now=created + timedelta(days=6), retention_s=WEEK, batch=5)
            assert (report.events, report.deliveries, report.ended) == (0, 0, 0)
        # Past it: the delivered events go, in batches of 2 (12 rounds of each statement on one connection).
        report = await prune_events(edb, now=created + timedelta(days=8), retention_s=WEEK, batch=2)
        assert (report.events, report.deliveries, report.ended) == (24, 25, 1)
        assert await _ids(edb) == ["stuck", "unpublished"]
        # Once the stuck delivery is final it goes too (the unpublished event stays until published).
        async with edb.write() as conn:
            await conn.execute(update(webhook_deliveries).values(status="dead"))
        report = await prune_events(edb, now=created + timedelta(days=8), retention_s=WEEK, batch=2)
        assert (report.events, report.deliveries) == (1, 1)
        assert await _ids(edb) == ["unpublished"]
        async with edb.primary.connect() as conn:
            assert await conn.scalar(select(func.count()).select_from(webhook_deliveries)) == 0
        assert hook.webhook.active
    finally:
        await edb.dispose()
