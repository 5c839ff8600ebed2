"""Facts written by hand for tests, as a sync would store them (no provider, no simulator)."""

from __future__ import annotations

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from walletsync.db.models import assets, balance_deltas, transactions, wallet_transactions


async def hold_sol(conn: AsyncConnection, wallet_id: int, amount: int, *, tx_id: str = "t1") -> int:
    """One Solana transaction (height 1, no fee) giving the wallet `amount` lamports, with the `native`
    SOL asset (9 decimals) inserted first: returns the asset's id."""
    asset_id = await conn.scalar(
        insert(assets)
        .values(chain="solana", asset_key="native", symbol="SOL", decimals=9)
        .returning(assets.c.id)
    )
    assert asset_id is not None
    await conn.execute(
        insert(transactions).values(chain="solana", tx_id=tx_id, height=1, fee=0, success=True)
    )
    await conn.execute(
        insert(wallet_transactions).values(wallet_id=wallet_id, chain="solana", tx_id=tx_id, height=1)
    )
    await conn.execute(
        insert(balance_deltas).values(
            wallet_id=wallet_id, chain="solana", tx_id=tx_id, asset_id=asset_id, amount=amount
        )
    )
    return int(asset_id)
