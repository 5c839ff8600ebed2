"""Batched webhooks (`batch_size` > 1) against a real receiver verifying Standard Webhooks signatures.

Oracles are written here: the tx ids each wallet was sent, in order; the batch sizes a queue of k
events must be cut into; PostgreSQL's own `xmin` for which rows a statement rewrote.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from sqlalchemy import column, select, table

from walletsync.config import Settings
from walletsync.db.engine import Database
from walletsync.db.models import webhook_deliveries
from walletsync.events import registry
from walletsync.events.relay import Relay
from walletsync.events.schemas import EventBatch

from .conftest import Receiver, add_tx_events, add_wallet
from .test_relay import Clock, edb, statuses

__all__ = ["edb"]  # the fixture, shared with test_relay
A, B = "A" * 44, "B" * 44


def batches_of(receiver: Receiver, secret: str, *, accepted: bool = True) -> list[dict[str, Any]]:
    """Each request's verified body (the receiver's few lines), checked against the published schema."""
    out = []
    for call in receiver.accepted if accepted else receiver.calls:
        body = call.verify(secret)
        EventBatch.model_validate(body)
        assert call.headers["webhook-id"] == body["id"]
        assert body["count"] == len(body["events"])
        assert len({e["wallet"]["id"] for e in body["events"]}) == 1  # one wallet per request
        out.append(body)
    return out


def tx_ids_by_wallet(bodies: list[dict[str, Any]]) -> dict[int, list[str]]:
    got: dict[int, list[str]] = {}
    for body in bodies:
        for event in body["events"]:
            got.setdefault(event["wallet"]["id"], []).append(event["data"]["tx_id"])
    return got


async def test_batches_keep_wallet_order_and_deliver_each_event_once(
    edb: Database, event_settings: Settings, receiver: Receiver
) -> None:
    async with edb.write() as conn:
        created = await registry.create_webhook(conn, url=receiver.url, topics=["tx.indexed"], batch_size=3)
        a = await add_wallet(conn, A)
        b = await add_wallet(conn, B)
    assert created.webhook.batch_size == 3
    relay = Relay(edb, event_settings)
    sent: dict[int, list[str]] = {a: [], b: []}
    try:
        # Twelve rounds on one pooled connection: claim, lease and the bulk outcome write run 12 times.
        for round_no in range(12):
            async with edb.write() as conn:
                for wallet, address, n in ((a, A, 7), (b, B, 2)):
                    ids = [f"{address[0]}-{round_no}-{i}" for i in range(n)]
                    await add_tx_events(conn, wallet, address, ids)
                    sent[wallet] += ids
            await relay.drain()
    finally:
        await relay.aclose()
    bodies = batches_of(receiver, created.secret)
    assert len(receiver.calls) == len(bodies) == 12 * (3 + 1)  # 7 events = 3 + 3 + 1; 2 events = 2
    assert sorted(Counter(b["count"] for b in bodies).items()) == [(1, 12), (2, 12), (3, 24)]
    assert tx_ids_by_wallet(bodies) == sent  # per-wallet order, within and across batches
    ids = [e["id"] for body in bodies for e in body["events"]]
    assert len(ids) == len(set(ids)) == 12 * 9  # exactly once per event
    assert len({body["id"] for body in bodies}) == len(bodies)  # one webhook-id per batch
    assert await statuses(edb) == {"delivered": 108}


async def test_a_failed_batch_is_retried_whole_under_the_same_webhook_id(
    edb: Database, event_settings: Settings, receiver: Receiver
) -> None:
    clock = Clock()
    async with edb.write() as conn:
        created = await registry.create_webhook(conn, url=receiver.url, batch_size=4)
        a = await add_wallet(conn, A)
        await add_tx_events(conn, a, A, [f"a{i}" for i in range(1, 7)])
    relay = Relay(edb, event_settings, now=clock)
    receiver.status = lambda: 503
    try:
        await relay.drain()
        (first,) = batches_of(receiver, created.secret, accepted=False)
        assert [e["data"]["tx_id"] for e in first["events"]] == ["a1", "a2", "a3", "a4"]
        # More events while it backs off; the receiver answers again before the batch is due.
        async with edb.write() as conn:
            await add_tx_events(conn, a, A, ["a7", "a8", "a9"])
        receiver.status = lambda: 200
        clock.advance(4)
        await relay.drain()
        assert receiver.accepted == []  # nothing behind the failed batch slips through
        receiver.status = lambda: 500
        clock.advance(1)
        await relay.drain()  # second attempt: fails again
        receiver.status = lambda: 200
        clock.advance(300)
        await relay.drain()
    finally:
        await relay.aclose()
    calls = batches_of(receiver, created.secret, accepted=False)
    # Three attempts of the same batch (same id, same events), then the rest: a5-a6 were leased as a
    # batch with it (a batch is fixed when first leased), a7-a9 came later.
    assert [c["id"] for c in calls[:3]] == [first["id"]] * 3
    assert all(c["events"] == first["events"] for c in calls[:3])
    delivered = batches_of(receiver, created.secret)
    assert tx_ids_by_wallet(delivered) == {a: [f"a{i}" for i in range(1, 10)]}
    assert [b["count"] for b in delivered] == [4, 2, 3]
    async with edb.primary.connect() as conn:
        attempts = (
            await conn.execute(select(webhook_deliveries.c.attempts).order_by(webhook_deliveries.c.outbox_id))
        ).scalars()
        assert list(attempts) == [3, 3, 3, 3, 1, 1, 1, 1, 1]  # the batch's rows were all attempted thrice


async def test_a_batch_cut_by_a_dead_relay_goes_out_unchanged_after_the_lease(
    edb: Database, event_settings: Settings, receiver: Receiver
) -> None:
    """Its composition is fixed when first leased: a relay that dies mid-send (nothing recorded)
    leaves a batch that is sent later with the same id and events, new events or not."""
    clock = Clock()
    async with edb.write() as conn:
        created = await registry.create_webhook(conn, url=receiver.url, batch_size=5)
        a = await add_wallet(conn, A)
        await add_tx_events(conn, a, A, ["a1", "a2"])
    relay = Relay(edb, event_settings, now=clock)
    try:
        await relay.publish_once()
        claimed, _ = await relay._claim()  # the relay "dies" here: claimed, never sent
        (batch,) = claimed
        head = batch.rows[0].id
        async with edb.write() as conn:
            await add_tx_events(conn, a, A, ["a3", "a4"])
        await relay.drain()
        assert receiver.calls == []  # leased: nothing goes before the lease ends
        clock.advance(121)
        await relay.drain()
    finally:
        await relay.aclose()
    bodies = batches_of(receiver, created.secret)
    assert [(b["id"], [e["data"]["tx_id"] for e in b["events"]]) for b in bodies] == [
        (f"batch_{head}", ["a1", "a2"]),
        (bodies[1]["id"], ["a3", "a4"]),
    ]


async def test_batched_receiver_down_then_back_loses_nothing_and_410_disables(
    edb: Database, event_settings: Settings, receiver: Receiver
) -> None:
    clock = Clock()
    async with edb.write() as conn:
        created = await registry.create_webhook(conn, url=receiver.url, batch_size=10)
        a = await add_wallet(conn, A)
        b = await add_wallet(conn, B)
    relay = Relay(edb, event_settings, now=clock)
    sent: dict[int, list[str]] = {a: [], b: []}
    receiver.status = lambda: 503
    try:
        # Down for 7.5 hours of the schedule while both wallets keep syncing.
        for step, wait in enumerate((0, 5, 300, 1800, 7200, 18000)):
            clock.advance(wait)
            async with edb.write() as conn:
                for wallet, address in ((a, A), (b, B)):
                    ids = [f"{address[0]}{step}-{i}" for i in range(6)]
                    await add_tx_events(conn, wallet, address, ids)
                    sent[wallet] += ids
            await relay.drain()
        assert receiver.accepted == []
        receiver.status = lambda: 200
        clock.advance(36000)
        await relay.drain()
        assert tx_ids_by_wallet(batches_of(receiver, created.secret)) == sent
        assert await statuses(edb) == {"delivered": 72}
        # 410 on a batch: the webhook is switched off and its pending deliveries end.
        async with edb.write() as conn:
            await add_tx_events(conn, a, A, ["gone-1", "gone-2"])
        receiver.status = lambda: 410
        await relay.drain()
    finally:
        await relay.aclose()
    async with edb.primary.connect() as conn:
        hook = await registry.get_webhook(conn, created.webhook.id)
    assert hook.active is False
    assert await statuses(edb) == {"delivered": 72, "dead": 2}
    assert json.loads(receiver.calls[-1].body)["count"] == 2


async def test_going_on_after_a_success_rewrites_no_follower_and_reuses_one_connection(
    edb: Database, event_settings: Settings, receiver: Receiver
) -> None:
    """A success rewrote every pending row behind the queue's head (each claim: a whole backlog
    rewritten, quadratic over a burst). Only rows pushed into the future (leases) may be written."""
    async with edb.write() as conn:
        await registry.create_webhook(conn, url=receiver.url)
        a = await add_wallet(conn, A)
        await add_tx_events(conn, a, A, [f"a{i}" for i in range(1, 1501)])
    relay = Relay(edb, event_settings)
    xmin = table("webhook_deliveries", column("outbox_id"), column("xmin"))
    try:
        while await relay.publish_once():
            pass
        async with edb.primary.connect() as conn:
            before = dict((await conn.execute(select(xmin.c.outbox_id, xmin.c.xmin))).all())
        assert await relay.deliver_once() == 1000  # one claim: the first 1,000 of the queue
        async with edb.primary.connect() as conn:
            after = dict((await conn.execute(select(xmin.c.outbox_id, xmin.c.xmin))).all())
    finally:
        await relay.aclose()
    ordered = sorted(before)
    assert all(after[i] != before[i] for i in ordered[:1000])  # leased, then delivered
    assert len(ordered) == 1500
    assert all(after[i] == before[i] for i in ordered[1000:])  # the 500 behind: untouched
    assert len(receiver.calls) == 1000
    assert len({c.peer for c in receiver.calls}) == 1  # one keep-alive connection for the queue
