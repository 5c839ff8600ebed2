"""Balances per wallet and asset: `sum(amount)` of the wallet's balance deltas, now or at a time.

Amounts stay exact integers in base units; `decimals` (from `assets`) travels beside them so callers
format without floats.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from walletsync.config import Chain
from walletsync.db.models import assets, balance_deltas


@dataclass(frozen=True, slots=True)
class Balance:
    asset_id: int
    chain: Chain
    asset_key: str
    symbol: str | None
    name: str | None
    decimals: int | None
    amount: int

    def formatted(self) -> str:
        """The amount in whole units as an exact decimal string (base units when decimals are unknown)."""
        if self.decimals is None:
            return str(self.amount)
        return format_units(self.amount, self.decimals)


def format_units(amount: int, decimals: int) -> str:
    value = Decimal(amount).scaleb(-decimals)
    return f"{value:.{decimals}f}" if decimals else str(amount)


def balances_query(wallet_id: int, *, at: datetime | None = None) -> Select[tuple[int, ...]]:
    """Per-asset sums for one wallet; zero balances are left out."""
    total = func.sum(balance_deltas.c.amount).label("amount")
    query = (
        select(
            assets.c.id,
            assets.c.chain,
            assets.c.asset_key,
            assets.c.symbol,
            assets.c.name,
            assets.c.decimals,
            total,
        )
        .join(assets, assets.c.id == balance_deltas.c.asset_id)
        .where(balance_deltas.c.wallet_id == wallet_id)
        .group_by(assets.c.id)
        .having(func.sum(balance_deltas.c.amount) != 0)
        .order_by(assets.c.asset_key != "native", assets.c.asset_key)
    )
    if at is not None:
        query = query.where(balance_deltas.c.block_time <= at)
    return query


async def wallet_balances(
    conn: AsyncConnection, wallet_id: int, *, at: datetime | None = None
) -> list[Balance]:
    """The wallet's non-zero balances, native asset first, at `at` (inclusive) or now."""
    rows = await conn.execute(balances_query(wallet_id, at=at))
    return [
        Balance(
            asset_id=row.id,
            chain=Chain(row.chain),
            asset_key=row.asset_key,
            symbol=row.symbol,
            name=row.name,
            decimals=row.decimals,
            amount=int(row.amount),
        )
        for row in rows
    ]
