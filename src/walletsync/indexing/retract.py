"""Retracting transactions from a wallet: the inverse of `store.store_batch`, in the caller's transaction.

A transaction that left the chain (a rollback) must leave the wallet's facts too. In ONE database
transaction with the rewound cursor, for each transaction: DELETE its `balance_deltas` and its
`wallet_transactions` row for the wallet, DELETE the `transactions` row when no wallet links it any
more, and INSERT one `tx.rolled_back` outbox row carrying the deltas removed (the same shape as
`tx.indexed`, amounts as integer strings). `current_balances` follows the deleted deltas by its own
triggers, in the same transaction; `balance.changed` is emitted for the assets that moved.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Text, and_, any_, delete, exists, literal, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

from walletsync.db.bulk import insert_ignore
from walletsync.db.models import assets, balance_deltas, outbox, transactions, wallet_transactions
from walletsync.events.emit import emit_balance_changed

TX_ROLLED_BACK = "tx.rolled_back"


@dataclass(frozen=True, slots=True)
class Retracted:
    tx_id: str
    height: int
    block_time: str | None
    deltas: list[tuple[int, str, int]]  # (asset id, asset key, amount removed)


async def retract(
    conn: AsyncConnection, *, wallet_id: int, chain: str, address: str, tx_ids: Sequence[str]
) -> list[Retracted]:
    """Remove `tx_ids` from the wallet (see the module docstring); returns what was removed."""
    if not tx_ids:
        return []
    ids = literal(sorted(set(tx_ids)), ARRAY(Text))
    removed = (
        await conn.execute(
            delete(balance_deltas)
            .where(balance_deltas.c.wallet_id == wallet_id, balance_deltas.c.tx_id == any_(ids))
            .returning(balance_deltas.c.tx_id, balance_deltas.c.asset_id, balance_deltas.c.amount)
        )
    ).all()
    keys = {
        row.id: row.asset_key
        for row in await conn.execute(
            select(assets.c.id, assets.c.asset_key).where(assets.c.id.in_({r.asset_id for r in removed}))
        )
    }
    by_tx: dict[str, list[tuple[int, str, int]]] = defaultdict(list)
    for row in removed:
        by_tx[row.tx_id].append((row.asset_id, keys[row.asset_id], int(row.amount)))
    unlinked = (
        await conn.execute(
            delete(wallet_transactions)
            .where(wallet_transactions.c.wallet_id == wallet_id, wallet_transactions.c.tx_id == any_(ids))
            .returning(
                wallet_transactions.c.tx_id, wallet_transactions.c.height, wallet_transactions.c.block_time
            )
        )
    ).all()
    # The shared fact goes once no wallet links it any more.
    await conn.execute(
        delete(transactions).where(
            transactions.c.chain == chain,
            transactions.c.tx_id == any_(ids),
            ~exists().where(
                and_(
                    wallet_transactions.c.chain == transactions.c.chain,
                    wallet_transactions.c.tx_id == transactions.c.tx_id,
                )
            ),
        )
    )
    result = [
        Retracted(
            tx_id=row.tx_id,
            height=row.height,
            block_time=row.block_time.isoformat() if row.block_time else None,
            deltas=sorted(by_tx.get(row.tx_id, []), key=lambda d: d[1]),
        )
        for row in sorted(unlinked, key=lambda r: (r.height, r.tx_id))
    ]
    await insert_ignore(
        conn,
        outbox,
        ("payload",),
        [(_payload(wallet_id, chain, address, item),) for item in result],
        same={"topic": TX_ROLLED_BACK},
    )
    await emit_balance_changed(
        conn,
        wallet_id=wallet_id,
        chain=chain,
        address=address,
        deltas=[(asset_id, key, -amount) for item in result for asset_id, key, amount in item.deltas],
    )
    return result


def _payload(wallet_id: int, chain: str, address: str, item: Retracted) -> dict[str, Any]:
    return {
        "wallet_id": wallet_id,
        "chain": chain,
        "address": address,
        "tx_id": item.tx_id,
        "height": item.height,
        "block_time": item.block_time,
        "deltas": [{"asset": key, "amount": str(amount)} for _, key, amount in item.deltas],
    }
