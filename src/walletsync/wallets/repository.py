"""Every query on the wallet registry and a wallet's transaction list. Never commits: callers do."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, delete, exists, func, insert, or_, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from walletsync.config import Chain
from walletsync.db.models import (
    assets,
    balance_deltas,
    sync_state,
    transactions,
    wallet_transactions,
    wallets,
)
from walletsync.errors import ConflictError, NotFoundError
from walletsync.wallets.addresses import validate_address


class WalletExistsError(ConflictError):
    title = "Wallet already tracked"


class WalletNotFoundError(NotFoundError):
    title = "Wallet not found"


class WalletAmbiguousError(ConflictError):
    title = "Several wallets match"


@dataclass(frozen=True, slots=True)
class WalletRow:
    id: int
    chain: Chain
    address: str
    label: str | None
    group_name: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class DeltaRow:
    asset_key: str
    symbol: str | None
    decimals: int | None
    amount: int


@dataclass(frozen=True, slots=True)
class TxRow:
    tx_id: str
    chain: Chain
    height: int | None
    block_time: datetime | None
    fee: int
    success: bool
    deltas: tuple[DeltaRow, ...]


def _wallet(row: Any) -> WalletRow:
    return WalletRow(
        id=row.id,
        chain=Chain(row.chain),
        address=row.address,
        label=row.label,
        group_name=row.group_name,
        created_at=row.created_at,
    )


async def add_wallet(
    conn: AsyncConnection,
    *,
    chain: Chain | str,
    address: str,
    label: str | None = None,
    group: str | None = None,
    cardano_network: str | None = None,
) -> WalletRow:
    """Track a wallet (validated, normalised address) and create its sync state. Raises
    `WalletExistsError` (also for the same address spelt in other case)."""
    chain = Chain(chain)
    address = validate_address(chain, address, cardano_network=cardano_network)
    row = (
        await conn.execute(
            pg_insert(wallets)
            .values(chain=chain.value, address=address, label=label, group_name=group)
            .on_conflict_do_nothing(index_elements=["chain", "address"])
            .returning(*wallets.c)
        )
    ).first()
    if row is None:
        raise WalletExistsError(f"{chain.value} wallet {address} is already tracked")
    await conn.execute(insert(sync_state).values(wallet_id=row.id))
    return _wallet(row)


async def get_wallet(conn: AsyncConnection, wallet_id: int) -> WalletRow:
    row = (await conn.execute(select(wallets).where(wallets.c.id == wallet_id))).first()
    if row is None:
        raise WalletNotFoundError(f"no wallet with id {wallet_id}")
    return _wallet(row)


async def find_wallet(conn: AsyncConnection, address: str, chain: Chain | str | None = None) -> WalletRow:
    """The tracked wallet with this address, or else with this label (on `chain` when given).

    Raises `WalletNotFoundError`, and `WalletAmbiguousError` when a label names several wallets.
    """
    wanted = address.strip()
    query = select(wallets).where(or_(wallets.c.address == wanted, wallets.c.label == wanted))
    if chain is not None:
        query = query.where(wallets.c.chain == Chain(chain).value)
    rows = (await conn.execute(query.order_by(wallets.c.id))).all()
    by_address = [row for row in rows if row.address == wanted]
    if by_address:
        return _wallet(by_address[0])
    if len(rows) > 1:
        ids = ", ".join(str(row.id) for row in rows)
        raise WalletAmbiguousError(f"label {wanted!r} names several wallets ({ids}): use an id or address")
    if not rows:
        raise WalletNotFoundError(f"no tracked wallet with address or label {wanted}")
    return _wallet(rows[0])


async def list_wallets(
    conn: AsyncConnection,
    *,
    after_id: int | None = None,
    limit: int = 100,
    chain: Chain | str | None = None,
    group: str | None = None,
) -> list[WalletRow]:
    """Wallets ordered by id, keyset-paginated after `after_id`."""
    query = select(wallets).order_by(wallets.c.id).limit(limit)
    if after_id is not None:
        query = query.where(wallets.c.id > after_id)
    if chain is not None:
        query = query.where(wallets.c.chain == Chain(chain).value)
    if group is not None:
        query = query.where(wallets.c.group_name == group)
    return [_wallet(row) for row in await conn.execute(query)]


async def remove_wallet(conn: AsyncConnection, wallet_id: int) -> None:
    """Stop tracking a wallet; its deltas and sync state go with it (shared transactions stay)."""
    result = await conn.execute(delete(wallets).where(wallets.c.id == wallet_id).returning(wallets.c.id))
    if result.first() is None:
        raise WalletNotFoundError(f"no wallet with id {wallet_id}")


async def list_transactions(
    conn: AsyncConnection,
    wallet_id: int,
    *,
    before: tuple[int, str] | None = None,
    limit: int = 100,
    asset: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[TxRow]:
    """The wallet's transactions newest first, keyset-paginated on (height, tx_id) below `before`.

    `asset` filters to transactions that changed the wallet's balance of that asset key.
    """
    wt = wallet_transactions
    query = (
        select(
            wt.c.tx_id,
            wt.c.chain,
            wt.c.height,
            wt.c.block_time,
            # What this wallet paid (0 unless it is the fee payer); rows from before 0006 whose payer
            # is unknown show the transaction's fee.
            func.coalesce(wt.c.fee, transactions.c.fee).label("fee"),
            transactions.c.success,
        )
        .join(transactions, and_(transactions.c.chain == wt.c.chain, transactions.c.tx_id == wt.c.tx_id))
        .where(wt.c.wallet_id == wallet_id)
        .order_by(wt.c.height.desc(), wt.c.tx_id.desc())
        .limit(limit)
    )
    if before is not None:
        query = query.where(tuple_(wt.c.height, wt.c.tx_id) < tuple_(*before))
    if since is not None:
        query = query.where(wt.c.block_time >= since)
    if until is not None:
        query = query.where(wt.c.block_time < until)
    if asset is not None:
        query = query.where(
            exists()
            .where(balance_deltas.c.wallet_id == wallet_id)
            .where(balance_deltas.c.tx_id == wt.c.tx_id)
            .where(balance_deltas.c.asset_id == assets.c.id)
            .where(assets.c.asset_key == asset)
            .where(assets.c.chain == wt.c.chain)
        )
    rows = (await conn.execute(query)).all()
    if not rows:
        return []
    delta_rows = await conn.execute(
        select(
            balance_deltas.c.tx_id,
            assets.c.asset_key,
            assets.c.symbol,
            assets.c.decimals,
            balance_deltas.c.amount,
        )
        .join(assets, assets.c.id == balance_deltas.c.asset_id)
        .where(balance_deltas.c.wallet_id == wallet_id)
        .where(balance_deltas.c.tx_id.in_([row.tx_id for row in rows]))
        .order_by(balance_deltas.c.tx_id, assets.c.asset_key)
    )
    by_tx: dict[str, list[DeltaRow]] = {}
    for d in delta_rows:
        by_tx.setdefault(d.tx_id, []).append(
            DeltaRow(asset_key=d.asset_key, symbol=d.symbol, decimals=d.decimals, amount=_int(d.amount))
        )
    return [
        TxRow(
            tx_id=row.tx_id,
            chain=Chain(row.chain),
            height=row.height,
            block_time=row.block_time,
            fee=_int(row.fee),
            success=row.success,
            deltas=tuple(by_tx.get(row.tx_id, ())),
        )
        for row in rows
    ]


def _int(value: Decimal | int) -> int:
    return int(value)
