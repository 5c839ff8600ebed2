"""`retract` on one pooled connection, store and retract alternating 12 times (past the 5 executions
after which PostgreSQL may switch a prepared statement to a generic plan): every round leaves the
wallet as before, with one `tx.rolled_back` per retracted transaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from walletsync.config import Chain
from walletsync.db.engine import Database
from walletsync.db.models import balance_deltas, current_balances, outbox, transactions, wallet_transactions
from walletsync.indexing.retract import retract
from walletsync.indexing.store import AssetIds, WalletTx, store_batch
from walletsync.market.links import ensure_native_assets
from walletsync.providers.types import BalanceDelta, ChainTx
from walletsync.wallets.repository import add_wallet

ADDRESS = "US517G5965aydkZ46HS38QLi7UQiSojurfbQfKCELFx"
OTHER = "cGfHiC6Kgg3FpFZvgwGcswsCRtp4aBP2fzuXRQPizuN"
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def _tx(n: int) -> ChainTx:
    deltas = (
        BalanceDelta(owner=ADDRESS, asset="native", amount=1_000 * n),
        BalanceDelta(owner=OTHER, asset="native", amount=-1_000 * n - 5000),
    )
    return ChainTx(
        Chain.SOLANA, f"r{n}", 100 + n, T0 + timedelta(minutes=n), 5000, True, deltas, fee_payer=OTHER
    )


async def test_store_then_retract_twelve_times_on_one_connection(db: Database) -> None:
    async with db.write() as conn:
        await ensure_native_assets(conn)
        wallet = await add_wallet(conn, chain=Chain.SOLANA, address=ADDRESS)
        other = await add_wallet(conn, chain=Chain.SOLANA, address=OTHER)
    ids = AssetIds()
    async with db.primary.connect() as conn:
        async with conn.begin():
            await ids.load(conn, Chain.SOLANA, ["native"])
            # The other wallet keeps r0: its shared `transactions` row must survive every retraction.
            kept = _tx(0)
            await store_batch(
                conn,
                wallet_id=other.id,
                chain=Chain.SOLANA,
                address=OTHER,
                batch=[WalletTx(kept, {"native": -5000}, fee=5000)],
                asset_ids=ids,
                cursor={},
            )
        for n in range(1, 13):
            tx = _tx(n)
            async with conn.begin():
                await store_batch(
                    conn,
                    wallet_id=wallet.id,
                    chain=Chain.SOLANA,
                    address=ADDRESS,
                    batch=[WalletTx(tx, {"native": 1_000 * n}), WalletTx(kept, {})],
                    asset_ids=ids,
                    cursor={"n": n},
                )
            async with conn.begin():
                removed = await retract(
                    conn, wallet_id=wallet.id, chain="solana", address=ADDRESS, tx_ids=[tx.tx_id, kept.tx_id]
                )
            assert [(r.tx_id, [(k, a) for _, k, a in r.deltas]) for r in removed] == [
                ("r0", []),
                (f"r{n}", [("native", 1_000 * n)]),
            ]
        async with conn.begin():
            counts = {
                name: await conn.scalar(
                    select(func.count()).select_from(table).where(table.c.wallet_id == wallet.id)
                )
                for name, table in (("deltas", balance_deltas), ("links", wallet_transactions))
            }
            shared = set((await conn.execute(select(transactions.c.tx_id))).scalars())
            current = await conn.scalar(
                select(func.coalesce(func.sum(current_balances.c.amount), 0)).where(
                    current_balances.c.wallet_id == wallet.id
                )
            )
            payloads = [
                row.payload
                for row in await conn.execute(
                    select(outbox.c.payload).where(outbox.c.topic == "tx.rolled_back").order_by(outbox.c.id)
                )
            ]
    assert counts == {"deltas": 0, "links": 0}
    assert shared == {"r0"}  # still linked to the other wallet; r1..r12 are gone
    assert current == 0
    assert len(payloads) == 24
    assert [p["tx_id"] for p in payloads if p["tx_id"] != "r0"] == [f"r{n}" for n in range(1, 13)]
    assert payloads[-1]["deltas"] == [{"asset": "native", "amount": "12000"}]
    assert payloads[-1]["height"] == 112
