"""Event retention: the outbox and its delivery log shrink once events are old and settled.

An outbox row goes when it is older than `EVENT_RETENTION` (the live streams' replay window), has
been published, and none of its webhook deliveries is still pending; its deliveries (the delivery
log) go with it. Deliveries still pending for a webhook an operator switched off would hold their
events forever, so once older than the window they are ended as `dead` first. Deletes run in
batches of `batch` rows, each its own short transaction, so pruning never holds long locks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import BigInteger, and_, any_, delete, exists, literal, select, update
from sqlalchemy.dialects.postgresql import ARRAY

from walletsync.db.engine import Database
from walletsync.db.models import outbox, webhook_deliveries, webhooks
from walletsync.events import metrics

PRUNE_BATCH = 5000


@dataclass(frozen=True, slots=True)
class PruneReport:
    events: int
    deliveries: int
    ended: int  # pending deliveries of switched-off webhooks ended as dead


async def prune_events(
    db: Database, *, now: datetime, retention_s: int, batch: int = PRUNE_BATCH
) -> PruneReport:
    cutoff = now - timedelta(seconds=retention_s)
    d = webhook_deliveries
    async with db.write() as conn:
        ended = (
            await conn.execute(
                update(d)
                .where(d.c.status == "pending", d.c.created_at < cutoff)
                .where(d.c.webhook_id.in_(select(webhooks.c.id).where(~webhooks.c.active)))
                .values(status="dead", last_error="webhook switched off for longer than the retention window")
                .returning(d.c.id)
            )
        ).all()
    events = deliveries = 0
    settled = ~exists().where(and_(d.c.outbox_id == outbox.c.id, d.c.status == "pending"))
    while True:
        async with db.write() as conn:
            ids = list(
                (
                    await conn.execute(
                        select(outbox.c.id)
                        .where(outbox.c.created_at < cutoff, outbox.c.published_at.is_not(None), settled)
                        .order_by(outbox.c.id)
                        .limit(batch)
                        .with_for_update(skip_locked=True)
                    )
                ).scalars()
            )
            if not ids:
                break
            chosen = literal(ids, ARRAY(BigInteger))
            deliveries += len(
                (await conn.execute(delete(d).where(d.c.outbox_id == any_(chosen)).returning(d.c.id))).all()
            )
            events += len(
                (
                    await conn.execute(
                        delete(outbox).where(outbox.c.id == any_(chosen)).returning(outbox.c.id)
                    )
                ).all()
            )
        if len(ids) < batch:
            break
    metrics.PRUNED.labels("outbox").inc(events)
    metrics.PRUNED.labels("webhook_deliveries").inc(deliveries)
    return PruneReport(events=events, deliveries=deliveries, ended=len(ended))
