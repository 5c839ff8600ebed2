"""Every events write path, twelve times on one pooled connection (PostgreSQL switches prepared
statements to generic plans after five executions; a plan-dependent bug shows from the sixth)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from walletsync.config import Settings
from walletsync.db.engine import Database
from walletsync.db.models import assets, balance_deltas, outbox, transactions, webhooks
from walletsync.events import registry
from walletsync.events.emit import emit_balance_changed, emit_sync_completed, emit_sync_failed
from walletsync.events.relay import Relay
from walletsync.wallets.repository import get_wallet

from .conftest import add_wallet

ROUNDS = 12


@pytest.fixture
async def one(db: Database, database_url: str, event_settings: Settings) -> AsyncIterator[Database]:
    database = Database.from_settings(database_url, event_settings)  # pool of exactly one connection
    yield database
    await database.dispose()


async def test_registry_writes_repeat(one: Database) -> None:
    async with one.write() as conn:
        wallet = await add_wallet(conn, "A" * 44, group="desk")
    for i in range(ROUNDS):
        async with one.write() as conn:
            created = await registry.create_webhook(
                conn, url=f"http://127.0.0.1:9/{i}", wallet_ids=[wallet], group="desk", replay=True
            )
            rotated = await registry.rotate_secret(conn, created.webhook.id, now=datetime.now(UTC))
            assert rotated.secret != created.secret
            assert not (await registry.set_active(conn, created.webhook.id, active=False, reason="t")).active
            assert (await registry.set_active(conn, created.webhook.id, active=True)).active
            assert await registry.redeliver(conn, created.webhook.id, now=datetime.now(UTC)) == 0
            if i % 2:
                await registry.delete_webhook(conn, created.webhook.id)
    async with one.primary.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(webhooks)) == ROUNDS // 2


async def test_emitters_repeat_with_exact_amounts(one: Database, event_settings: Settings) -> None:
    async with one.write() as conn:
        wallet_id = await add_wallet(conn, "A" * 44)
        wallet = await get_wallet(conn, wallet_id)
        asset_id = await conn.scalar(
            assets.insert().values(chain="solana", asset_key="native", decimals=9).returning(assets.c.id)
        )
    for i in range(ROUNDS):
        async with one.write() as conn:
            tx = f"t{i}"
            await conn.execute(transactions.insert().values(chain="solana", tx_id=tx, fee=5000, success=True))
            await conn.execute(
                balance_deltas.insert().values(
                    wallet_id=wallet_id, chain="solana", tx_id=tx, asset_id=asset_id, amount=1000 + i
                )
            )
            await emit_balance_changed(
                conn,
                wallet_id=wallet_id,
                chain="solana",
                address="A" * 44,
                deltas=[(asset_id, "native", 1000 + i)],
            )
            await emit_sync_completed(conn, wallet, new_transactions=1, seen_transactions=1, pages=1)
            await emit_sync_failed(conn, wallet, error=f"Boom: {i}\nsecond line dropped")
    async with one.primary.connect() as conn:
        rows = (await conn.execute(select(outbox.c.topic, outbox.c.payload).order_by(outbox.c.id))).all()
    changes = [(int(p["old_amount"]), int(p["new_amount"])) for t, p in rows if t == "balance.changed"]
    # Hand-computed: balance after round i is the sum of 1000 + k for k <= i.
    expected, total = [], 0
    for i in range(ROUNDS):
        expected.append((total, total + 1000 + i))
        total += 1000 + i
    assert changes == expected
    assert [p["error"] for t, p in rows if t == "sync.failed"] == [f"Boom: {i}" for i in range(ROUNDS)]
    assert sum(t == "sync.completed" for t, _ in rows) == ROUNDS
    relay = Relay(one, event_settings)
    try:
        for _ in range(ROUNDS):
            await relay.publish_once(limit=3)
    finally:
        await relay.aclose()
    async with one.primary.connect() as conn:
        seqs = list((await conn.execute(select(outbox.c.seq).order_by(outbox.c.id))).scalars())
    assert seqs == list(range(seqs[0], seqs[0] + 3 * ROUNDS))  # commit order = id order here, no gaps
