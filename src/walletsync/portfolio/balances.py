"""Balances per wallet and asset: `sum(amount)` of the wallet's balance deltas, now or at a time.

Now: one row per held asset from `current_balances`, the running sum the database keeps with the
deltas (revision 0010), so the cost does not grow with the wallet's history. At a time: the sum of
the deltas up to it (the history is the only source for the past).

Amounts stay exact integers in base units; `decimals` (from `assets`) travels beside them so callers
format without floats.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, Select, any_, func, literal, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

from walletsync.config import Chain
from walletsync.db.models import assets, balance_deltas, current_balances


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


_ASSET_COLUMNS = (
    assets.c.id,
    assets.c.chain,
    assets.c.asset_key,
    assets.c.symbol,
    assets.c.name,
    assets.c.decimals,
)
_ORDER = (assets.c.asset_key != "native", assets.c.asset_key)


def balances_query(wallet_ids: Sequence[int], *, at: datetime | None = None) -> Select[tuple[int, ...]]:
    """(wallet_id, asset columns, amount) of the wallets' non-zero balances, native asset first."""
    # One array parameter: the same statement (and prepared plan) for one wallet or a hundred.
    ids = literal(list(wallet_ids), ARRAY(BigInteger))
    if at is None:
        return (
            select(current_balances.c.wallet_id, *_ASSET_COLUMNS, current_balances.c.amount)
            .join(assets, assets.c.id == current_balances.c.asset_id)
            .where(current_balances.c.wallet_id == any_(ids), current_balances.c.amount != 0)
            .order_by(current_balances.c.wallet_id, *_ORDER)
        )
    total = func.sum(balance_deltas.c.amount)
    return (
        select(balance_deltas.c.wallet_id, *_ASSET_COLUMNS, total.label("amount"))
        .join(assets, assets.c.id == balance_deltas.c.asset_id)
        .where(balance_deltas.c.wallet_id == any_(ids), balance_deltas.c.block_time <= at)
        .group_by(balance_deltas.c.wallet_id, assets.c.id)
        .having(total != 0)
        .order_by(balance_deltas.c.wallet_id, *_ORDER)
    )


async def wallet_balances(
    conn: AsyncConnection, wallet_id: int, *, at: datetime | None = None
) -> list[Balance]:
    """The wallet's non-zero balances, native asset first, at `at` (inclusive) or now."""
    return (await wallets_balances(conn, [wallet_id], at=at)).get(wallet_id, [])


async def wallets_balances(
    conn: AsyncConnection, wallet_ids: Sequence[int], *, at: datetime | None = None
) -> dict[int, list[Balance]]:
    """Each wallet's non-zero balances in one query (wallets holding nothing are absent)."""
    by_wallet: dict[int, list[Balance]] = {}
    if not wallet_ids:
        return by_wallet
    for row in await conn.execute(balances_query(sorted(set(wallet_ids)), at=at)):
        by_wallet.setdefault(row.wallet_id, []).append(
            Balance(
                asset_id=row.id,
                chain=Chain(row.chain),
                asset_key=row.asset_key,
                symbol=row.symbol,
                name=row.name,
                decimals=row.decimals,
                amount=int(row.amount),
            )
        )
    return by_wallet
