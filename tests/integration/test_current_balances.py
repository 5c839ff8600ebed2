"""`current_balances` follows every write of `balance_deltas` (the triggers of revision 0010).

Expected balances are hand-written numbers, never a sum computed by the code under test. Writes go
through the indexer's own `store_batch` where they can, and through plain DELETE / UPDATE / TRUNCATE
statements the way another stream's retraction or an operator would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, event, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from walletsync.config import Chain
from walletsync.db.engine import Database
from walletsync.db.models import (
    asset_prices,
    assets,
    balance_deltas,
    candles,
    current_balances,
    instruments,
    transactions,
    wallet_transactions,
    wallets,
)
from walletsync.indexing.store import AssetIds, WalletTx, store_batch
from walletsync.portfolio.balances import wallet_balances
from walletsync.portfolio.leaderboard import leaderboard
from walletsync.portfolio.valuation import group_value
from walletsync.providers.types import BalanceDelta, ChainTx

T0 = datetime(2026, 11, 1, tzinfo=UTC)
ADDRESS = "So1anaWa11et1111111111111111111111111111111"


async def _wallet(conn: AsyncConnection, address: str = ADDRESS, group: str | None = None) -> int:
    wallet_id = await conn.scalar(
        insert(wallets).values(chain="solana", address=address, group_name=group).returning(wallets.c.id)
    )
    assert wallet_id is not None
    return wallet_id


async def _assets(conn: AsyncConnection) -> dict[str, int]:
    rows = await conn.execute(
        insert(assets)
        .values([{"chain": "solana", "asset_key": key, "decimals": 9} for key in ("native", "MINT")])
        .returning(assets.c.asset_key, assets.c.id)
    )
    return {row.asset_key: row.id for row in rows}


async def _current(conn: AsyncConnection, wallet_id: int) -> dict[int, int]:
    """The table's rows for the wallet, read in the open transaction or in one of its own."""
    query = select(current_balances.c.asset_id, current_balances.c.amount).where(
        current_balances.c.wallet_id == wallet_id
    )
    if conn.in_transaction():
        return {row.asset_id: int(row.amount) for row in await conn.execute(query)}
    async with conn.begin():
        return {row.asset_id: int(row.amount) for row in await conn.execute(query)}


def _tx(n: int, amounts: dict[str, int], owner: str = ADDRESS) -> WalletTx:
    deltas = tuple(BalanceDelta(owner=owner, asset=asset, amount=amount) for asset, amount in amounts.items())
    tx = ChainTx(Chain.SOLANA, f"tx{n}", 100 + n, T0 + timedelta(minutes=n), 5000, True, deltas)
    return WalletTx(tx=tx, amounts=amounts)


async def _store(
    conn: AsyncConnection, wallet_id: int, ids: AssetIds, batch: Sequence[WalletTx], *, cursor: int
) -> None:
    async with conn.begin():
        await store_batch(
            conn,
            wallet_id=wallet_id,
            chain=Chain.SOLANA,
            address=ADDRESS,
            batch=batch,
            asset_ids=ids,
            cursor={"n": cursor},
        )


async def _asset_ids(conn: AsyncConnection) -> AssetIds:
    ids = AssetIds()
    if conn.in_transaction():
        await ids.load(conn, Chain.SOLANA, ["native", "MINT"])
        return ids
    async with conn.begin():
        await ids.load(conn, Chain.SOLANA, ["native", "MINT"])
    return ids


async def test_batches_and_retractions_on_one_pooled_connection(db: Database) -> None:
    """12 batches, a replayed batch, then retractions: the table equals hand-written sums each time."""
    async with db.primary.begin() as conn:
        wallet_id = await _wallet(conn)
        asset = await _assets(conn)
    async with db.primary.connect() as conn:  # one pooled connection: generic plans after 5 runs
        ids = await _asset_ids(conn)
        for n in range(1, 13):
            # Batch n: receive n * 1,000 lamports, pay a 5,000 fee, and every third batch 7 tokens.
            amounts = {"native": n * 1_000 - 5_000} | ({"MINT": 7} if n % 3 == 0 else {})
            await _store(conn, wallet_id, ids, [_tx(n, amounts)], cursor=n)
        # 1,000 * (1 + ... + 12) - 12 * 5,000 = 78,000 - 60,000; tokens in batches 3, 6, 9, 12.
        assert await _current(conn, wallet_id) == {asset["native"]: 18_000, asset["MINT"]: 28}
        # The same batch again (a crash between fetch and commit): nothing is counted twice.
        await _store(conn, wallet_id, ids, [_tx(12, {"native": 7_000, "MINT": 7})], cursor=12)
        assert await _current(conn, wallet_id) == {asset["native"]: 18_000, asset["MINT"]: 28}
        for n in (12, 11, 10, 9, 8, 7, 6, 5, 4, 3):  # retract one transaction at a time, ten times
            async with conn.begin():
                await conn.execute(
                    delete(balance_deltas).where(
                        balance_deltas.c.wallet_id == wallet_id, balance_deltas.c.tx_id == f"tx{n}"
                    )
                )
        # Left: tx1 (-4,000) and tx2 (-3,000); no tokens.
        assert await _current(conn, wallet_id) == {asset["native"]: -7_000, asset["MINT"]: 0}
        async with conn.begin():
            balances = await wallet_balances(conn, wallet_id)
        assert [(b.asset_key, b.amount) for b in balances] == [("native", -7_000)]


async def test_one_statement_deleting_many_transactions(db: Database) -> None:
    """A multi-row, multi-asset DELETE (a reorg dropping several transactions) in one statement."""
    async with db.primary.begin() as conn:
        wallet_id = await _wallet(conn)
        asset = await _assets(conn)
        ids = await _asset_ids(conn)
    async with db.primary.connect() as conn:
        batch = [_tx(1, {"native": 500}), _tx(2, {"native": 250, "MINT": 3}), _tx(3, {"MINT": 40})]
        await _store(conn, wallet_id, ids, batch, cursor=3)
        assert await _current(conn, wallet_id) == {asset["native"]: 750, asset["MINT"]: 43}
        async with conn.begin():
            await conn.execute(delete(balance_deltas).where(balance_deltas.c.tx_id.in_(["tx2", "tx3"])))
        assert await _current(conn, wallet_id) == {asset["native"]: 500, asset["MINT"]: 0}


async def test_rolled_back_write_leaves_no_trace(db: Database) -> None:
    async with db.primary.begin() as conn:
        wallet_id = await _wallet(conn)
        asset = await _assets(conn)
        ids = await _asset_ids(conn)
    async with db.primary.connect() as conn:
        await _store(conn, wallet_id, ids, [_tx(1, {"native": 900})], cursor=1)
        tx = await conn.begin()
        await conn.execute(delete(balance_deltas).where(balance_deltas.c.wallet_id == wallet_id))
        assert await _current(conn, wallet_id) == {asset["native"]: 0}
        await tx.rollback()
        assert await _current(conn, wallet_id) == {asset["native"]: 900}


async def test_update_truncate_and_wallet_delete(db: Database) -> None:
    async with db.primary.begin() as conn:
        wallet_id = await _wallet(conn)
        asset = await _assets(conn)
        ids = await _asset_ids(conn)
    async with db.primary.connect() as conn:
        await _store(conn, wallet_id, ids, [_tx(1, {"native": 100}), _tx(2, {"native": 20})], cursor=2)
        async with conn.begin():  # a corrected amount, and a delta moved to another asset
            await conn.execute(
                update(balance_deltas).where(balance_deltas.c.tx_id == "tx1").values(amount=130)
            )
            await conn.execute(
                update(balance_deltas).where(balance_deltas.c.tx_id == "tx2").values(asset_id=asset["MINT"])
            )
        assert await _current(conn, wallet_id) == {asset["native"]: 130, asset["MINT"]: 20}
        async with conn.begin():
            await conn.execute(delete(wallets).where(wallets.c.id == wallet_id))  # cascades to deltas
        assert await _current(conn, wallet_id) == {}
        async with conn.begin():
            other = await _wallet(conn)
        await _store(conn, other, ids, [_tx(3, {"native": 5})], cursor=3)
        async with conn.begin():
            await conn.execute(text("TRUNCATE balance_deltas"))
        assert await _current(conn, other) == {}


async def test_concurrent_writers_of_one_balance(db: Database) -> None:
    """Two open transactions adding to the same (wallet, asset): the second waits, both count."""
    async with db.primary.begin() as conn:
        wallet_id = await _wallet(conn)
        asset = await _assets(conn)
        await conn.execute(
            insert(transactions).values(
                [{"chain": "solana", "tx_id": t, "fee": 0, "success": True} for t in ("a", "b")]
            )
        )

    def row(tx_id: str, amount: int) -> dict[str, Any]:
        return {
            "wallet_id": wallet_id,
            "chain": "solana",
            "tx_id": tx_id,
            "asset_id": asset["native"],
            "amount": amount,
        }

    async with db.primary.connect() as first, db.primary.connect() as second:
        await first.begin()
        await first.execute(insert(balance_deltas).values(row("a", 11)))
        await second.begin()
        blocked = asyncio.create_task(second.execute(insert(balance_deltas).values(row("b", 31))))
        await asyncio.sleep(0.2)
        assert not blocked.done()  # waiting on the first transaction's row
        await first.commit()
        await blocked
        await second.commit()
    async with db.primary.connect() as conn:
        assert await _current(conn, wallet_id) == {asset["native"]: 42}


async def test_group_value_runs_a_fixed_number_of_queries(db: Database) -> None:
    """Group value costs the same statements for 2 wallets as for 30 (not four per wallet)."""
    async with db.primary.begin() as conn:
        asset = await _assets(conn)
        await conn.execute(insert(transactions).values(chain="solana", tx_id="g", fee=0, success=True))
        for n in range(30):
            wallet_id = await _wallet(conn, f"So1anaWa11et{n:031d}", group="big" if n >= 2 else "small")
            await conn.execute(
                insert(wallet_transactions).values(wallet_id=wallet_id, chain="solana", tx_id="g", height=1)
            )
            await conn.execute(
                insert(balance_deltas).values(
                    wallet_id=wallet_id, chain="solana", tx_id="g", asset_id=asset["native"], amount=n + 1
                )
            )
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(db.primary.sync_engine, "before_cursor_execute", count)
    try:
        async with db.primary.connect() as conn:
            small = await group_value(conn, "small")
            small_count = len(statements)
            statements.clear()
            big = await group_value(conn, "big")
    finally:
        event.remove(db.primary.sync_engine, "before_cursor_execute", count)
    assert len(statements) == small_count <= 4
    assert [w.unpriced[0].amount for w in small.wallets] == [1, 2]
    # 3 + 4 + ... + 30 = 465 - 3
    assert sum(w.unpriced[0].amount for w in big.wallets) == 462


async def test_value_board_ranks_unpriced_only_and_negative_wallets(db: Database) -> None:
    """Priced wallets by value, negative ones included, then wallets holding only unpriced assets
    (score None, never 0); a wallet holding nothing is not on the board."""
    async with db.primary.begin() as conn:
        asset = await _assets(conn)  # native priced at 2.5 USD per whole unit (9 decimals), MINT unpriced
        instrument = await conn.scalar(
            insert(instruments)
            .values(kind="crypto", symbol="SOL/USD", currency_quote="USD")
            .returning(instruments.c.id)
        )
        await conn.execute(insert(asset_prices).values(asset_id=asset["native"], instrument_id=instrument))
        await conn.execute(
            insert(candles).values(
                instrument_id=instrument, interval="1h", ts=T0, open=2, high=3, low=2, close=2.5
            )
        )
        await conn.execute(insert(transactions).values(chain="solana", tx_id="v", fee=0, success=True))
        holdings = {  # wallet -> (native, MINT) in base units
            "rich": (4_000_000_000, 0),
            "tokens": (0, 9),
            "both": (1_000_000_000, 5),
            "short": (-2_000_000_000, 0),
            "emptied": (0, 0),
        }
        ids = {}
        for n, (name, amounts) in enumerate(holdings.items()):
            ids[name] = await _wallet(conn, f"So1anaWa11et{n:031d}")
            await conn.execute(
                insert(balance_deltas).values(
                    [
                        {
                            "wallet_id": ids[name],
                            "chain": "solana",
                            "tx_id": "v",
                            "asset_id": a,
                            "amount": amount,
                        }
                        for a, amount in zip((asset["native"], asset["MINT"]), amounts, strict=True)
                        if amount or name == "emptied"
                    ]
                )
            )
        board = await leaderboard(conn, kind="value", limit=10)
        top2 = await leaderboard(conn, kind="value", limit=2)
        top3 = await leaderboard(conn, kind="value", limit=3)
    by_id = {v: k for k, v in ids.items()}
    assert [(e.rank, by_id[e.wallet_id], e.score, e.unpriced_assets) for e in board.entries] == [
        (1, "rich", Decimal("10"), 0),
        (2, "both", Decimal("2.5"), 1),
        (3, "short", Decimal("-5"), 0),
        (4, "tokens", None, 1),
    ]
    assert [by_id[e.wallet_id] for e in top2.entries] == ["rich", "both"]
    assert [by_id[e.wallet_id] for e in top3.entries] == ["rich", "both", "short"]
