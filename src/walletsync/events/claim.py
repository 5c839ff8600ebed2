"""Claiming due webhook deliveries for the relay (see `relay.py` for the protocol), in one transaction.

One claim is a handful of statements whatever its size (up to `CLAIM_LIMIT` rows): the due rows
(`FOR UPDATE SKIP LOCKED`), each queue's pending prefix, the targets, the events, and one `UPDATE ...
FROM unnest(...)` that leases every kept row and fixes the composition of new batches.

Batched webhooks (`batch_size` > 1) get each queue's kept rows cut into batches of at most that size.
A batch's rows carry `batch_head` (the id of its first delivery) from the claim that first leases it,
so whatever happens next (a failure, a relay dying mid-send) it is sent again with the same events
and the same `webhook-id` (`batch_<head>`). A stored batch goes out only when all its pending rows
are in the claim; otherwise the queue waits for a later one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, any_, func, literal, select, tuple_, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

from walletsync.db.models import webhook_deliveries, webhooks
from walletsync.events.envelope import StoredEvent, events_by_id

D = webhook_deliveries
QueueKey = tuple[int, int]  # (webhook id, wallet id): one ordered delivery queue
LEASE_S = 120.0
CLAIM_LIMIT = 2000
QUEUE_LIMIT = 1000  # rows of one (webhook, wallet) queue per claim (>= the largest batch size)


@dataclass(frozen=True, slots=True)
class Target:
    id: int
    url: str
    keys: list[str]  # signing secrets valid now, current first
    batch_size: int = 1


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    outbox_id: int
    attempts: int
    batch_head: int | None = None


@dataclass
class Batch:
    """The claimed part of one queue, cut into requests (`chunks`: one row each unless batched)."""

    target: Target
    chunks: list[list[Claimed]]
    wallet_id: int
    rows: list[Claimed] = field(init=False)

    def __post_init__(self) -> None:
        self.rows = [row for chunk in self.chunks for row in chunk]

    @property
    def key(self) -> QueueKey:
        return (self.target.id, self.wallet_id)


async def claim(
    conn: AsyncConnection, now: datetime, *, busy: Collection[QueueKey] = (), max_queues: int | None = None
) -> tuple[list[Batch], dict[int, StoredEvent]]:
    """Claim due rows, at most `max_queues` queues, none of the `busy` ones (in flight here)."""
    query = (
        select(D.c.id, D.c.webhook_id, D.c.wallet_id, D.c.outbox_id, D.c.attempts, D.c.batch_head)
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
    queues: dict[QueueKey, list[Any]] = defaultdict(list)
    for row in due:
        key = (row.webhook_id, row.wallet_id)
        if key in queues or max_queues is None or len(queues) < max_queues:
            queues[key].append(row)
    heads = await _pending(conn, queues)
    kept: dict[QueueKey, list[Claimed]] = {}
    deferred: list[tuple[list[int], datetime]] = []
    for key, rows in queues.items():
        pending = heads.get(key, [])
        mine: list[Claimed] = []
        for i, row in enumerate(rows[:QUEUE_LIMIT]):
            if i >= len(pending) or pending[i][0] != row.outbox_id:
                # Something older is pending (leased, backing off, or held by another relay).
                wait_until = pending[i][1] if i < len(pending) else now
                if wait_until > now:
                    deferred.append(([r.id for r in rows[i:]], wait_until))
                break
            mine.append(Claimed(row.id, row.outbox_id, row.attempts, row.batch_head))
        if mine:
            kept[key] = mine
    targets = await _targets(conn, {k[0] for k in kept}, now) if kept else {}
    sizes = await _stored_sizes(conn, kept) if kept else {}
    batches: list[Batch] = []
    new_heads: dict[int, int] = {}  # delivery id -> its new batch's head
    for (webhook_id, wallet_id), mine in kept.items():
        target = targets.get(webhook_id)
        if target is None:
            continue
        chunks = _chunks(mine, target.batch_size, sizes)
        for n, chunk in enumerate(chunks):
            if target.batch_size > 1 and chunk[0].batch_head is None:
                head = chunk[0].id
                new_heads.update((row.id, head) for row in chunk)
                chunks[n] = [Claimed(r.id, r.outbox_id, r.attempts, head) for r in chunk]
        if chunks:
            batches.append(Batch(target, chunks, wallet_id))
    # One statement for every row pushed back, leased, or put in a new batch.
    lease = now + timedelta(seconds=LEASE_S)
    writes: dict[int, tuple[datetime, int | None]] = {}
    for ids, until in deferred:
        writes.update((i, (until, None)) for i in ids)
    writes.update((row.id, (lease, new_heads.get(row.id))) for batch in batches for row in batch.rows)
    if writes:
        await _write(conn, writes)
    if not batches:
        return [], {}
    events = await events_by_id(conn, sorted({r.outbox_id for b in batches for r in b.rows}))
    return batches, events


def _chunks(rows: list[Claimed], size: int, stored: dict[int, int]) -> list[list[Claimed]]:
    """A queue's kept rows as requests: single rows, or batches of at most `size` (stored ones kept
    as they are, and only when complete: `stored` counts each stored batch's pending rows)."""
    if size <= 1:
        return [[row] for row in rows]
    chunks: list[list[Claimed]] = []
    i = 0
    while i < len(rows):
        head = rows[i].batch_head
        j = i + 1
        if head is not None:
            while j < len(rows) and rows[j].batch_head == head:
                j += 1
            if j - i < stored.get(head, 0):
                break  # part of it is not in this claim: send nothing after it either
        else:
            while j < len(rows) and j - i < size and rows[j].batch_head is None:
                j += 1
        chunks.append(rows[i:j])
        i = j
    return chunks


async def _pending(
    conn: AsyncConnection, queues: dict[QueueKey, list[Any]]
) -> dict[QueueKey, list[tuple[int, datetime]]]:
    """Each queue's pending rows up to its last claimed one, oldest first: (outbox id, due time)."""
    upto = max(row.outbox_id for rows in queues.values() for row in rows)
    rows = await conn.execute(
        select(D.c.webhook_id, D.c.wallet_id, D.c.outbox_id, D.c.next_attempt_at)
        .where(D.c.status == "pending", D.c.outbox_id <= upto)
        .where(tuple_(D.c.webhook_id, D.c.wallet_id).in_(list(queues)))
        .order_by(D.c.outbox_id)
    )
    found: dict[QueueKey, list[tuple[int, datetime]]] = defaultdict(list)
    for r in rows:
        found[(r.webhook_id, r.wallet_id)].append((r.outbox_id, r.next_attempt_at))
    return found


async def _stored_sizes(conn: AsyncConnection, kept: dict[QueueKey, list[Claimed]]) -> dict[int, int]:
    """Pending rows of each stored batch met in this claim (to send a stored batch only whole)."""
    heads = sorted({r.batch_head for rows in kept.values() for r in rows if r.batch_head is not None})
    if not heads:
        return {}
    rows = await conn.execute(
        select(D.c.batch_head, func.count().label("n"))
        .where(D.c.status == "pending", D.c.batch_head == any_(literal(heads, ARRAY(BigInteger))))
        .group_by(D.c.batch_head)
    )
    return {r.batch_head: r.n for r in rows}


async def _write(conn: AsyncConnection, writes: dict[int, tuple[datetime, int | None]]) -> None:
    ids = sorted(writes)
    data = (
        func.unnest(
            literal(ids, ARRAY(BigInteger)),
            literal([writes[i][0] for i in ids], ARRAY(D.c.next_attempt_at.type)),
            literal([writes[i][1] for i in ids], ARRAY(BigInteger)),
        )
        .table_valued("id", "until", "head")
        .render_derived(name="claimed")
    )
    await conn.execute(
        update(D)
        .where(D.c.id == data.c.id)
        .values(next_attempt_at=data.c.until, batch_head=func.coalesce(data.c.head, D.c.batch_head))
    )


async def _targets(conn: AsyncConnection, ids: set[int], now: datetime) -> dict[int, Target]:
    rows = await conn.execute(
        select(
            webhooks.c.id,
            webhooks.c.url,
            webhooks.c.secret,
            webhooks.c.previous_secret,
            webhooks.c.previous_secret_expires_at,
            webhooks.c.batch_size,
        ).where(webhooks.c.id == any_(literal(sorted(ids), ARRAY(BigInteger))))
    )
    targets = {}
    for r in rows:
        keys = [r.secret]
        if r.previous_secret and r.previous_secret_expires_at and r.previous_secret_expires_at > now:
            keys.append(r.previous_secret)
        targets[r.id] = Target(r.id, r.url, keys, r.batch_size)
    return targets
