"""The relay against a real receiver that verifies Standard Webhooks signatures."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from standardwebhooks import WebhookVerificationError

from walletsync.config import Settings
from walletsync.db.engine import Database
from walletsync.db.models import outbox, webhook_deliveries, webhooks
from walletsync.events import registry
from walletsync.events.relay import Relay
from walletsync.events.schemas import EVENT_MODELS

from .conftest import Receiver, add_tx_events, add_wallet


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
async def edb(event_settings: Settings, db: Database, database_url: str) -> Database:
    """The emptied test database behind a pool of exactly one connection."""
    database = Database.from_settings(database_url, event_settings)
    yield database  # type: ignore[misc]
    await database.dispose()


async def statuses(db: Database) -> dict[str, int]:
    async with db.primary.connect() as conn:
        rows = await conn.execute(
            select(webhook_deliveries.c.status, func.count().label("count")).group_by(
                webhook_deliveries.c.status
            )
        )
        return {r.status: r.count for r in rows}


async def attempts_of(db: Database) -> list[tuple[int, int]]:
    async with db.primary.connect() as conn:
        rows = await conn.execute(
            select(webhook_deliveries.c.outbox_id, webhook_deliveries.c.attempts).order_by(
                webhook_deliveries.c.outbox_id
            )
        )
        return [(r.outbox_id, r.attempts) for r in rows]


async def test_every_event_delivered_exactly_once_signed_in_order(
    edb: Database, event_settings: Settings, receiver: Receiver
) -> None:
    async with edb.write() as conn:
        created = await registry.create_webhook(conn, url=receiver.url, topics=["tx.indexed"])
        a = await add_wallet(conn, "A" * 44)
        b = await add_wallet(conn, "B" * 44)
    relay = Relay(edb, event_settings)
    sent: dict[int, list[str]] = {a: [], b: []}
    try:
        # Twelve rounds on one pooled connection: every publish/claim/record statement runs > 10 times.
        for round_no in range(12):
            async with edb.write() as conn:
                for wallet, address in ((a, "A" * 44), (b, "B" * 44)):
                    ids = [f"{address[0]}-{round_no}-{i}" for i in range(3)]
                    await add_tx_events(conn, wallet, address, ids)
                    sent[wallet] += ids
            await relay.drain()
    finally:
        await relay.aclose()
    assert len(receiver.calls) == 72
    got: dict[int, list[str]] = {a: [], b: []}
    seen_ids = set()
    for call in receiver.calls:
        event = call.verify(created.secret)
        EVENT_MODELS[event["type"]].model_validate(event)  # the published schema
        assert call.headers["webhook-id"] == event["id"]
        seen_ids.add(event["id"])
        got[event["wallet"]["id"]].append(event["data"]["tx_id"])
    assert len(seen_ids) == 72  # exactly once
    assert got == sent  # per-wallet order
    assert await statuses(edb) == {"delivered": 72}
    first = json.loads(receiver.calls[0].body)
    assert first["wallet"] == {
        "id": a,
        "chain": "solana",
        "address": "A" * 44,
        "label": "w-" + "A" * 44,
        "group": None,
    }
    assert first["data"]["fee"] == {"asset": "native", "symbol": None, "decimals": None, "amount": "5000"}


async def test_receiver_down_then_back_gets_everything_in_wallet_order(
    edb: Database, event_settings: Settings, receiver: Receiver
) -> None:
    clock = Clock()
    async with edb.write() as conn:
        created = await registry.create_webhook(conn, url=receiver.url)
        a = await add_wallet(conn, "A" * 44)
        b = await add_wallet(conn, "B" * 44)
        await add_tx_events(conn, a, "A" * 44, ["a1", "a2", "a3"])
        await add_tx_events(conn, b, "B" * 44, ["b1", "b2"])
    relay = Relay(edb, event_settings, now=clock)
    receiver.status = lambda: 503
    try:
        await relay.drain()
        # Each wallet's head was tried once; nothing behind it was.
        assert len(receiver.calls) == 2
        # A new event for wallet a while a1 backs off, and the receiver answering again: a4 must
        # still wait for a1 (per-wallet order), not slip through now.
        receiver.status = lambda: 200
        async with edb.write() as conn:
            await add_tx_events(conn, a, "A" * 44, ["a4"])
        await relay.drain()
        assert receiver.accepted == []
        receiver.status = lambda: 503
        # Down for seven hours of the schedule (5 s, 5 min, 30 min, 2 h, 5 h): each head is attempted
        # when due and not a second before (a few attempts are refused by the open breaker).
        for wait in (5, 300, 1800, 7200, 18000):
            clock.advance(wait - 1)
            await relay.drain()
            before = await attempts_of(edb)
            clock.advance(1)
            await relay.drain()
            after = await attempts_of(edb)
            assert [n for _, n in after] == [n + 1 if n else 0 for _, n in before]
        receiver.status = lambda: 200
        clock.advance(36000)
        await relay.drain()
    finally:
        await relay.aclose()
    delivered = [c.verify(created.secret) for c in receiver.accepted]
    by_wallet = {w: [e["data"]["tx_id"] for e in delivered if e["wallet"]["id"] == w] for w in (a, b)}
    assert by_wallet == {a: ["a1", "a2", "a3", "a4"], b: ["b1", "b2"]}
    assert await statuses(edb) == {"delivered": 6}
    async with edb.primary.connect() as conn:
        attempts = dict(
            (await conn.execute(select(webhook_deliveries.c.outbox_id, webhook_deliveries.c.attempts))).all()
        )
    assert sorted(attempts.values()) == [1, 1, 1, 1, 7, 7]  # the two heads: six failures, then success


async def test_dead_after_the_schedule_then_redelivered(
    edb: Database, event_settings: Settings, receiver: Receiver
) -> None:
    clock = Clock()
    async with edb.write() as conn:
        created = await registry.create_webhook(conn, url=receiver.url)
        a = await add_wallet(conn, "A" * 44)
        await add_tx_events(conn, a, "A" * 44, ["a1", "a2"])
    relay = Relay(edb, event_settings, now=clock)
    receiver.status = lambda: 500
    try:
        await relay.drain()
        for wait in (5, 300, 1800, 7200, 18000, 36000, 36000):
            clock.advance(wait)
            await relay.drain()
        # 8 attempts of a1 (27.6 h), then it is dead and a2 goes (and fails) in turn.
        a1_calls = [c for c in receiver.calls if json.loads(c.body)["data"]["tx_id"] == "a1"]
        assert len(a1_calls) == 8
        async with edb.primary.connect() as conn:
            dead = await registry.list_deliveries(conn, created.webhook.id, status="dead")
        assert [(d.event_id, d.attempts, d.last_status) for d in dead] == [(dead[0].event_id, 8, 500)]
        assert "HTTP 500" in str(dead[0].last_error)
        receiver.status = lambda: 204
        async with edb.write() as conn:
            assert await registry.redeliver(conn, created.webhook.id, now=clock()) == 1
        clock.advance(60)  # past the breaker's 30 s cool-down after eight failures in a row
        await relay.drain()
    finally:
        await relay.aclose()
    assert await statuses(edb) == {"delivered": 2}
    assert sorted(json.loads(c.body)["data"]["tx_id"] for c in receiver.accepted) == ["a1", "a2"]


async def test_gone_disables_the_webhook(edb: Database, event_settings: Settings, receiver: Receiver) -> None:
    async with edb.write() as conn:
        created = await registry.create_webhook(conn, url=receiver.url)
        a = await add_wallet(conn, "A" * 44)
        await add_tx_events(conn, a, "A" * 44, ["a1", "a2", "a3"])
    receiver.status = lambda: 410
    relay = Relay(edb, event_settings)
    try:
        await relay.drain()
        async with edb.write() as conn:
            await add_tx_events(conn, a, "A" * 44, ["a4"])
        await relay.drain()
    finally:
        await relay.aclose()
    assert len(receiver.calls) == 1
    async with edb.primary.connect() as conn:
        hook = await registry.get_webhook(conn, created.webhook.id)
        published = await conn.scalar(select(func.count()).where(outbox.c.published_at.is_not(None)))
    assert hook.active is False
    assert "410 Gone" in str(hook.disabled_reason)
    assert published == 4  # still published (streams), but no delivery for the disabled webhook
    assert await statuses(edb) == {"dead": 3}


async def test_tampered_body_and_replayed_timestamp_are_rejected(
    edb: Database, event_settings: Settings, receiver: Receiver
) -> None:
    async with edb.write() as conn:
        created = await registry.create_webhook(conn, url=receiver.url)
        a = await add_wallet(conn, "A" * 44)
        await add_tx_events(conn, a, "A" * 44, ["a1"])
    relay = Relay(edb, event_settings)
    try:
        await relay.drain()
    finally:
        await relay.aclose()
    (call,) = receiver.calls
    call.verify(created.secret)
    tampered = call.body.replace(b'"amount":"-5000"', b'"amount":"-1"')
    assert tampered != call.body
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        type(call)(call.headers, tampered, 200, call.at).verify(created.secret)
    # The same signed request replayed ten minutes later: its timestamp is outside the 5-minute window.
    old = dict(call.headers, **{"webhook-timestamp": str(int(call.headers["webhook-timestamp"]) - 600)})
    with pytest.raises(WebhookVerificationError, match="too old"):
        type(call)(old, call.body, 200, call.at).verify(created.secret)
    with pytest.raises(WebhookVerificationError):
        call.verify("whsec_" + "A" * 43)  # another secret


async def test_rotation_signs_with_both_secrets_for_a_day(
    edb: Database, event_settings: Settings, receiver: Receiver
) -> None:
    clock = Clock()
    async with edb.write() as conn:
        created = await registry.create_webhook(conn, url=receiver.url)
        a = await add_wallet(conn, "A" * 44)
        rotated = await registry.rotate_secret(conn, created.webhook.id, now=clock())
        await add_tx_events(conn, a, "A" * 44, ["a1"])
    relay = Relay(edb, event_settings, now=clock)
    try:
        await relay.drain()
        clock.advance(24 * 3600 + 1)
        async with edb.write() as conn:
            await add_tx_events(conn, a, "A" * 44, ["a2"])
        await relay.drain()
    finally:
        await relay.aclose()
    first, second = receiver.calls
    first.verify(created.secret)
    first.verify(rotated.secret)
    second.verify(rotated.secret)
    with pytest.raises(WebhookVerificationError):
        second.verify(created.secret)
    assert rotated.secret != created.secret
    assert rotated.secret.startswith("whsec_")


async def test_filters_by_topic_wallet_and_group(
    edb: Database, event_settings: Settings, receiver: Receiver
) -> None:
    async with edb.write() as conn:
        a = await add_wallet(conn, "A" * 44, group="desk")
        b = await add_wallet(conn, "B" * 44)
        c = await add_wallet(conn, "C" * 44)
        await registry.create_webhook(conn, url=receiver.url, wallet_ids=[b], group="desk")
        await registry.create_webhook(conn, url=receiver.url, topics=["sync.failed"])
        for wallet, address in ((a, "A" * 44), (b, "B" * 44), (c, "C" * 44)):
            await add_tx_events(conn, wallet, address, [f"{address[0]}1"])
    relay = Relay(edb, event_settings)
    try:
        await relay.drain()
    finally:
        await relay.aclose()
    assert sorted(json.loads(c.body)["data"]["tx_id"] for c in receiver.calls) == ["A1", "B1"]
    async with edb.primary.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(webhooks)) == 2


async def test_replay_delivers_what_was_published_before_the_webhook(
    edb: Database, event_settings: Settings, receiver: Receiver
) -> None:
    async with edb.write() as conn:
        a = await add_wallet(conn, "A" * 44, group="desk")
        b = await add_wallet(conn, "B" * 44)
        await add_tx_events(conn, a, "A" * 44, ["a1", "a2"])
        await add_tx_events(conn, b, "B" * 44, ["b1"])
    relay = Relay(edb, event_settings)
    try:
        await relay.drain()  # published, no webhook yet
        async with edb.write() as conn:
            created = await registry.create_webhook(conn, url=receiver.url, group="desk", replay=True)
            await add_tx_events(conn, a, "A" * 44, ["a3"])
        await relay.drain()
    finally:
        await relay.aclose()
    assert [c.verify(created.secret)["data"]["tx_id"] for c in receiver.calls] == ["a1", "a2", "a3"]
