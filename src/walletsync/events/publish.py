"""Publishing: claiming new outbox rows, fanning them out to matching webhooks, giving them a `seq`.

Publishing runs under one transaction-level advisory lock, so publications are serial: `seq` values
(reserved as one block of `outbox_seq`) are taken and committed in the same order, and a live stream
reading `seq > last` can never miss a row that commits late, which reading by `id` could (ids are
taken at insert; two writers commit in either order). Rows are still claimed `FOR UPDATE SKIP
LOCKED`, so a publisher never waits on a row another transaction holds. The commit NOTIFYs
`walletsync_events` (streams and senders wake). Matching: the webhook's topics, and when it names
wallets or a group, the event's wallet is one of them or in that group.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Integer, any_, cast, func, literal, select, update
from sqlalchemy.dialects.postgresql import ARRAY, REGCLASS
from sqlalchemy.ext.asyncio import AsyncConnection

from walletsync.db.bulk import insert_ignore
from walletsync.db.models import outbox, wallets, webhook_deliveries, webhooks
from walletsync.events import metrics
from walletsync.events.listen import PUBLISHED_CHANNEL

# Two-key advisory lock: "events" (0x5745, "WE"), publishing (1).
EVENTS_LOCK_CLASS = 0x5745
PUBLISH_LOCK = 1
PUBLISH_BATCH = 1000


@dataclass(frozen=True, slots=True)
class Subscription:
    id: int
    topics: frozenset[str]
    wallet_ids: frozenset[int] | None
    group: str | None

    def matches(self, topic: str, wallet_id: int, group: str | None) -> bool:
        if topic not in self.topics:
            return False
        if self.wallet_ids is None and self.group is None:
            return True
        return bool(self.wallet_ids and wallet_id in self.wallet_ids) or (
            self.group is not None and group == self.group
        )


async def active_subscriptions(conn: AsyncConnection) -> list[Subscription]:
    rows = await conn.execute(
        select(webhooks.c.id, webhooks.c.topics, webhooks.c.wallet_ids, webhooks.c.group_name).where(
            webhooks.c.active
        )
    )
    return [
        Subscription(
            id=r.id,
            topics=frozenset(r.topics),
            wallet_ids=frozenset(r.wallet_ids) if r.wallet_ids is not None else None,
            group=r.group_name,
        )
        for r in rows
    ]


async def _groups(conn: AsyncConnection, wallet_ids: set[int]) -> dict[int, str | None]:
    rows = await conn.execute(
        select(wallets.c.id, wallets.c.group_name).where(
            wallets.c.id == any_(literal(sorted(wallet_ids), ARRAY(BigInteger)))
        )
    )
    return {r.id: r.group_name for r in rows}


async def publish(conn: AsyncConnection, *, now: datetime, limit: int = PUBLISH_BATCH) -> int:
    """Publish up to `limit` unpublished events in the caller's transaction; return how many."""
    await conn.execute(
        select(
            func.pg_advisory_xact_lock(literal(EVENTS_LOCK_CLASS, Integer), literal(PUBLISH_LOCK, Integer))
        )
    )
    rows: Sequence[Any] = (
        await conn.execute(
            # The wallet id only, not the payload: decoding 1,000 JSON payloads in the relay's event
            # loop lengthened the transaction that every live stream waits on.
            select(
                outbox.c.id,
                outbox.c.topic,
                func.coalesce(outbox.c.payload["wallet_id"].astext.cast(BigInteger), 0).label("wallet_id"),
            )
            .where(outbox.c.published_at.is_(None))
            .order_by(outbox.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).all()
    if not rows:
        return 0
    subscriptions = await active_subscriptions(conn)
    if subscriptions:
        wallet_of = {row.id: int(row.wallet_id) for row in rows}
        need_groups = any(s.group is not None for s in subscriptions)
        groups = await _groups(conn, set(wallet_of.values())) if need_groups else {}
        deliveries = [
            (s.id, row.id, wallet_of[row.id], now)
            for row in rows
            for s in subscriptions
            if s.matches(row.topic, wallet_of[row.id], groups.get(wallet_of[row.id]))
        ]
        await insert_ignore(
            conn, webhook_deliveries, ("webhook_id", "outbox_id", "wallet_id", "next_attempt_at"), deliveries
        )
    # Reserve a block of `rows` sequence values; only publishers (serialized above) use the sequence.
    last = int(
        await conn.scalar(
            select(
                func.setval(
                    cast(literal("outbox_seq"), REGCLASS),
                    func.nextval(cast(literal("outbox_seq"), REGCLASS)) + (len(rows) - 1),
                )
            )
        )
        or 0
    )
    ids = [row.id for row in rows]
    seqs = list(range(last - len(rows) + 1, last + 1))
    data = (
        func.unnest(literal(ids, ARRAY(BigInteger)), literal(seqs, ARRAY(BigInteger)))
        .table_valued("id", "seq")
        .render_derived(name="published")
    )
    await conn.execute(
        update(outbox).where(outbox.c.id == data.c.id).values(published_at=func.now(), seq=data.c.seq)
    )
    await conn.execute(select(func.pg_notify(PUBLISHED_CHANNEL, str(last))))
    for row in rows:
        metrics.PUBLISHED.labels(row.topic).inc()
    return len(rows)
