"""Storing one batch of normalized transactions for one wallet, in one database transaction.

The wallet's facts (its link to each transaction, its balance deltas), one `tx.indexed` outbox event
per transaction new to the wallet, and the advanced cursor commit together: a crash leaves either
nothing of the batch or all of it. The `transactions` rows themselves are facts shared by every
wallet: the sync commits them just ahead of the batch (`store_transactions`, on a second
connection), so a crash may leave some unlinked, and the resumed run links them. Every insert is
`ON CONFLICT` on natural keys, so a re-run of the same batch adds nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Select, Text, any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY, Insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from walletsync.config import Chain
from walletsync.db.bulk import insert_ignore, insert_ignore_returning, unnest_insert, unnest_params
from walletsync.db.engine import dumps_json
from walletsync.db.models import assets, balance_deltas, outbox, transactions, wallet_transactions
from walletsync.events.emit import emit_balance_changed
from walletsync.indexing import state
from walletsync.providers.types import AssetInfo, ChainTx

TX_INDEXED = "tx.indexed"


@dataclass(frozen=True, slots=True)
class WalletTx:
    """A transaction as it concerns one wallet: its net change per asset over the wallet's owners."""

    tx: ChainTx
    amounts: dict[str, int]  # asset key -> net change, zero sums removed
    fee: int = 0  # what this wallet paid in fees: the tx's fee when it is the fee payer, else 0
    # The raw provider body as JSON text, when `wallet_view` was asked to encode it (else `tx.raw`).
    raw_json: str | None = None


def wallet_view(tx: ChainTx, owners: frozenset[str], *, encode_raw: bool = False) -> WalletTx:
    """`tx` as it concerns the wallet of `owners`.

    `encode_raw`: keep the raw body as JSON text and drop the decoded one, which is several times
    larger in memory (a page of 1,000 Solana transactions: about 2.4 MB of text against tens of MB
    of dicts), while the page waits to be stored.
    """
    amounts: dict[str, int] = defaultdict(int)
    for delta in tx.deltas:
        if delta.owner in owners:
            amounts[delta.asset] += delta.amount
    # Two tracked wallets in one transaction: only the payer's wallet pays the fee (its deltas
    # already include it; the other's do not), so their fees sum to the chain's.
    fee = tx.fee if tx.fee_payer is not None and tx.fee_payer in owners else 0
    raw_json = None
    if encode_raw and tx.raw is not None:
        raw_json = dumps_json(tx.raw)
        tx = replace(tx, raw=None)
    return WalletTx(
        tx=tx, amounts={k: v for k, v in sorted(amounts.items()) if v != 0}, fee=fee, raw_json=raw_json
    )


class AssetIds:
    """(chain, asset key) -> `assets.id`, remembered for the life of a sync."""

    def __init__(self) -> None:
        self._ids: dict[tuple[str, str], int] = {}

    def missing(self, chain: Chain, keys: Iterable[str]) -> set[str]:
        return {key for key in keys if (chain.value, key) not in self._ids}

    async def load(self, conn: AsyncConnection, chain: Chain, keys: Iterable[str]) -> set[str]:
        """Fill ids of keys already in `assets`; return the keys still unknown."""
        wanted = self.missing(chain, keys)
        if wanted:
            rows = await conn.execute(
                select(assets.c.asset_key, assets.c.id)
                .where(assets.c.chain == chain.value)
                .where(assets.c.asset_key.in_(sorted(wanted)))
            )
            for row in rows:
                self._ids[(chain.value, row.asset_key)] = row.id
        return self.missing(chain, wanted)

    async def insert(self, conn: AsyncConnection, infos: Sequence[AssetInfo]) -> None:
        if not infos:
            return
        await conn.execute(
            pg_insert(assets)
            .values(
                [
                    {
                        "chain": info.chain.value,
                        "asset_key": info.asset_key,
                        "symbol": info.symbol,
                        "name": info.name,
                        "decimals": info.decimals,
                        "metadata": info.metadata,
                        "refreshed_at": datetime.now().astimezone(),
                    }
                    for info in infos
                ]
            )
            .on_conflict_do_nothing(index_elements=["chain", "asset_key"])
        )
        await self.load(conn, infos[0].chain, [info.asset_key for info in infos])

    def __getitem__(self, key: tuple[Chain, str]) -> int:
        return self._ids[(key[0].value, key[1])]


TX_COLUMNS = ("tx_id", "height", "block_time", "fee", "success", "block_hash", "raw")


@lru_cache(maxsize=1)
def _upsert_transactions() -> Insert:
    """Built once: the rows come as parameters (see `walletsync.db.bulk`); `raw` as JSON text."""
    rows = unnest_insert(transactions, TX_COLUMNS, ("chain",), ("raw",))
    return rows.on_conflict_do_update(
        index_elements=[transactions.c.chain, transactions.c.tx_id],
        set_={
            "block_hash": rows.excluded.block_hash,
            "height": rows.excluded.height,
            "block_time": rows.excluded.block_time,
        },
        where=rows.excluded.block_hash.is_not(None)
        & transactions.c.block_hash.is_distinct_from(rows.excluded.block_hash),
    )


async def store_batch(
    conn: AsyncConnection,
    *,
    wallet_id: int,
    chain: Chain,
    address: str,
    batch: Sequence[WalletTx],
    asset_ids: AssetIds,
    cursor: dict[str, Any],
    store_raw: bool = True,
) -> int:
    """Store `batch` for the wallet and advance its cursor; return how many txs were new to it.

    Assets referenced by the batch must already be in `asset_ids` (see `AssetIds.insert`). The
    sync runs the same two steps (`store_transactions`, then `store_wallet_facts`) as overlapping
    stages (`indexing.pipeline`).
    """
    await store_transactions(conn, chain, batch, store_raw=store_raw)
    return await store_wallet_facts(
        conn,
        wallet_id=wallet_id,
        chain=chain,
        address=address,
        batch=batch,
        asset_ids=asset_ids,
        cursor=cursor,
    )


async def store_wallet_facts(
    conn: AsyncConnection,
    *,
    wallet_id: int,
    chain: Chain,
    address: str,
    batch: Sequence[WalletTx],
    asset_ids: AssetIds,
    cursor: dict[str, Any],
) -> int:
    """The wallet's side of `batch`, its `transactions` rows already stored: the links, the deltas
    and events of the transactions new to the wallet, and the advanced cursor. Returns how many
    were new."""
    new_ids = set(
        await insert_ignore_returning(
            conn,
            wallet_transactions,
            ("tx_id", "height", "block_time", "fee"),
            [(item.tx.tx_id, item.tx.height or 0, item.tx.block_time, item.fee) for item in batch],
            returning="tx_id",
            same={"wallet_id": wallet_id, "chain": chain.value},
        )
    )
    new = [item for item in batch if item.tx.tx_id in new_ids]
    await insert_ignore(
        conn,
        balance_deltas,
        ("tx_id", "asset_id", "amount", "block_time", "height"),
        [
            (item.tx.tx_id, asset_ids[(chain, asset)], amount, item.tx.block_time, item.tx.height)
            for item in new
            for asset, amount in item.amounts.items()
        ],
        same={"wallet_id": wallet_id, "chain": chain.value},
    )
    await emit_balance_changed(
        conn,
        wallet_id=wallet_id,
        chain=chain.value,
        address=address,
        deltas=[(asset_ids[(chain, a)], a, amount) for item in new for a, amount in item.amounts.items()],
    )
    await insert_ignore(
        conn,
        outbox,
        ("payload",),
        [(event_payload(wallet_id, address, item),) for item in new],
        same={"topic": TX_INDEXED},
    )
    heights = [item.tx.height for item in batch if item.tx.height is not None]
    await state.save_progress(
        conn,
        wallet_id,
        cursor=cursor,
        last_height=max(heights) if heights else None,
        new_transactions=len(new),
    )
    return len(new)


async def store_transactions(
    conn: AsyncConnection, chain: Chain, batch: Sequence[WalletTx], *, store_raw: bool = True
) -> None:
    """Upsert the transactions of `batch` (facts shared by every wallet that links them)."""
    if not batch:
        return
    # A transaction seen again in another block (re-included after a rollback) takes its new block
    # and height, so the rollback check of every wallet linking it agrees with the chain again.
    await conn.execute(
        _upsert_transactions(),
        unnest_params(
            TX_COLUMNS,
            [
                (
                    item.tx.tx_id,
                    item.tx.height,
                    item.tx.block_time,
                    item.tx.fee,
                    item.tx.success,
                    item.tx.block_hash,
                    _raw_json(item) if store_raw else None,
                )
                for item in batch
            ],
            {"chain": chain.value},
        ),
    )


def _raw_json(item: WalletTx) -> str | None:
    if item.raw_json is not None:
        return item.raw_json
    return dumps_json(item.tx.raw) if item.tx.raw is not None else None


async def already_linked(conn: AsyncConnection, wallet_id: int, tx_ids: Sequence[str]) -> set[str]:
    """Which of `tx_ids` this wallet already has (skipped before fetching their details)."""
    if not tx_ids:
        return set()
    rows = await conn.execute(_linked(), {"wallet_id": wallet_id, "tx_ids": list(tx_ids)})
    return set(rows.scalars())


@lru_cache(maxsize=1)
def _linked() -> Select[Any]:
    # One array parameter (`= ANY(:tx_ids)`), not a thousand-item IN list to compile and plan;
    # passed at execute time, not held by the statement (see `walletsync.db.bulk`).
    return (
        select(wallet_transactions.c.tx_id)
        .where(wallet_transactions.c.wallet_id == bindparam("wallet_id"))
        .where(wallet_transactions.c.tx_id == any_(bindparam("tx_ids", type_=ARRAY(Text))))
    )


def event_payload(wallet_id: int, address: str, item: WalletTx) -> dict[str, Any]:
    tx = item.tx
    return {
        "wallet_id": wallet_id,
        "chain": tx.chain.value,
        "address": address,
        "tx_id": tx.tx_id,
        "height": tx.height,
        "block_time": tx.block_time.isoformat() if tx.block_time else None,
        "success": tx.success,
        "fee": str(item.fee),  # paid by this wallet: 0 unless it is the fee payer
        "deltas": [{"asset": asset, "amount": str(amount)} for asset, amount in item.amounts.items()],
    }
