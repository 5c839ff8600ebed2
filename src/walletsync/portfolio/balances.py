"""Balances per wallet and asset: `sum(amount)` of the wallet's balance deltas, now or at a time,
plus its native staking lines.

Now: one row per held asset from `current_balances`, the running sum the database keeps with the
deltas (revision 0010), so the cost does not grow with the wallet's history. At a time: the sum of
the deltas up to it (the history is the only source for the past).

Each line has a `kind`: `liquid` (from the deltas), `staked` (Solana stake accounts the wallet
stakes or withdraws) or `rewards` (Cardano rewards not yet withdrawn), the latter two summed per
kind from the `staking_balances` snapshot (`indexing.staking`). The snapshot is the last observed
state, not history: at a time `at`, a staking line counts (at its current amount) when its stake
account or stake address was first observed at or before `at` (`observed_at`), else it is absent.

Amounts stay exact integers in base units; `decimals` (from `assets`) travels beside them so callers
format without floats.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Select, Text, any_, case, func, literal, select, union_all
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

from walletsync.config import Chain
from walletsync.db.models import assets, balance_deltas, current_balances, staking_balances

LIQUID = "liquid"
KINDS = (LIQUID, "staked", "rewards")


@dataclass(frozen=True, slots=True)
class Balance:
    asset_id: int
    chain: Chain
    asset_key: str
    symbol: str | None
    name: str | None
    decimals: int | None
    amount: int
    kind: str = LIQUID  # liquid | staked | rewards

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


def _liquid_query(ids: Any, at: datetime | None) -> Select[Any]:
    kind = literal(LIQUID, Text).label("kind")
    if at is None:
        return (
            select(current_balances.c.wallet_id, *_ASSET_COLUMNS, current_balances.c.amount, kind)
            .join(assets, assets.c.id == current_balances.c.asset_id)
            .where(current_balances.c.wallet_id == any_(ids), current_balances.c.amount != 0)
        )
    total = func.sum(balance_deltas.c.amount)
    return (
        select(balance_deltas.c.wallet_id, *_ASSET_COLUMNS, total.label("amount"), kind)
        .join(assets, assets.c.id == balance_deltas.c.asset_id)
        .where(balance_deltas.c.wallet_id == any_(ids), balance_deltas.c.block_time <= at)
        .group_by(balance_deltas.c.wallet_id, assets.c.id)
        .having(total != 0)
    )


def _staking_query(ids: Any, at: datetime | None) -> Select[Any]:
    held = staking_balances.c
    query = (
        select(held.wallet_id, *_ASSET_COLUMNS, func.sum(held.amount).label("amount"), held.kind)
        .join(assets, assets.c.id == held.asset_id)
        .where(held.wallet_id == any_(ids))
        .group_by(held.wallet_id, assets.c.id, held.kind)
    )
    return query if at is None else query.where(held.observed_at <= at)


def balances_query(wallet_ids: Sequence[int], *, at: datetime | None = None) -> Select[Any]:
    """(wallet_id, asset columns, amount, kind) of the wallets' non-zero balance lines: native asset
    first, then by asset key; per asset liquid, staked, rewards."""
    # One array parameter: the same statement (and prepared plan) for one wallet or a hundred.
    ids = literal(list(wallet_ids), ARRAY(BigInteger))
    lines = union_all(_liquid_query(ids, at), _staking_query(ids, at)).subquery("lines")
    rank = case({kind: n for n, kind in enumerate(KINDS)}, value=lines.c.kind)
    return select(lines).order_by(lines.c.wallet_id, lines.c.asset_key != "native", lines.c.asset_key, rank)


async def wallet_balances(
    conn: AsyncConnection, wallet_id: int, *, at: datetime | None = None
) -> list[Balance]:
    """The wallet's non-zero balances, native asset first, at `at` (inclusive) or now."""
    return (await wallets_balances(conn, [wallet_id], at=at)).get(wallet_id, [])


async def wallets_balances(
    conn: AsyncConnection, wallet_ids: Sequence[int], *, at: datetime | None = None
) -> dict[int, list[Balance]]:
    """Each wallet's non-zero balance lines in one query (wallets holding nothing are absent)."""
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
                kind=row.kind,
            )
        )
    return by_wallet
