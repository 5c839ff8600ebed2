"""Writing events into the outbox, on the caller's connection: they commit with the facts or not at all.

`tx.indexed` is written by `indexing/store.py` and `tx.rolled_back` by the indexer's retraction; this
module writes the others. Every payload starts with the wallet (`wallet_id`, `chain`, `address`), the
shape `envelope.py` reads.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from sqlalchemy import BigInteger, any_, literal, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

from walletsync.db.bulk import insert_ignore
from walletsync.db.models import current_balances, outbox
from walletsync.events.schemas import BALANCE_CHANGED, SYNC_COMPLETED, SYNC_FAILED

MAX_ERROR_CHARS = 1000


class WalletLike(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def chain(self) -> Any: ...  # `Chain` or its value
    @property
    def address(self) -> str: ...


def _wallet(wallet: WalletLike) -> dict[str, Any]:
    return {"wallet_id": wallet.id, "chain": str(wallet.chain), "address": wallet.address}


async def emit_balance_changed(
    conn: AsyncConnection,
    *,
    wallet_id: int,
    chain: str,
    address: str,
    deltas: Iterable[tuple[int, str, int]],
) -> None:
    """One `balance.changed` per asset the batch's new `(asset_id, asset_key, amount)` deltas moved.

    Call after the batch's deltas are inserted: the new amount is `current_balances` (moved by its
    triggers in this same transaction), the old one that minus the batch's change.
    """
    change: dict[int, tuple[str, int]] = {}
    for asset_id, key, amount in deltas:
        change[asset_id] = (key, change.get(asset_id, (key, 0))[1] + amount)
    moved = [asset_id for asset_id, (_, total) in change.items() if total != 0]
    if not moved:
        return
    ids = literal(sorted(moved), ARRAY(BigInteger))
    rows = await conn.execute(
        select(current_balances.c.asset_id, current_balances.c.amount)
        .where(current_balances.c.wallet_id == wallet_id)
        .where(current_balances.c.asset_id == any_(ids))
    )
    new_amounts = {asset_id: int(total) for asset_id, total in rows}
    wallet = {"wallet_id": wallet_id, "chain": chain, "address": address}
    payloads = []
    for asset_id in sorted(moved):
        key, delta = change[asset_id]
        new = new_amounts.get(asset_id, 0)
        payloads.append({**wallet, "asset": key, "old_amount": str(new - delta), "new_amount": str(new)})
    await insert_ignore(conn, outbox, ("payload",), [(p,) for p in payloads], same={"topic": BALANCE_CHANGED})


async def emit_sync_completed(
    conn: AsyncConnection, wallet: WalletLike, *, new_transactions: int, seen_transactions: int, pages: int
) -> None:
    """`sync.completed` when the sync stored something new (a sync that found nothing stays quiet:
    wallets are re-synced every few minutes, and receivers would mostly hear "nothing happened")."""
    if new_transactions == 0:
        return
    payload = {
        **_wallet(wallet),
        "new_transactions": new_transactions,
        "seen_transactions": seen_transactions,
        "pages": pages,
    }
    await insert_ignore(conn, outbox, ("payload",), [(payload,)], same={"topic": SYNC_COMPLETED})


async def emit_sync_failed(conn: AsyncConnection, wallet: WalletLike, *, error: str) -> None:
    payload = {**_wallet(wallet), "error": error.splitlines()[0][:MAX_ERROR_CHARS] if error else ""}
    await insert_ignore(conn, outbox, ("payload",), [(payload,)], same={"topic": SYNC_FAILED})
