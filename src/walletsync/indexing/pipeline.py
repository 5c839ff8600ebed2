"""Storing a sync's fetched pages in two overlapping stages, committed in page order.

1. A page's `transactions` rows (facts shared by every wallet, with their raw bodies) are upserted
   and committed on a connection of their own, up to two pages ahead of the writer;
2. the page's own database transaction writes the wallet's links, balance deltas, events and cursor
   (`indexing.store`), and commits.

Why: the upsert of `transactions` was the largest statement of every page, and in series with the
rest it kept one PostgreSQL backend busy while the rest of the machine waited (bench/backfill.py:
220-242 against 267-296 us per transaction of wall time). Why it cannot deadlock: the upsert skips
rows that a page still in flight holds (they were committed by that page's own upsert), so the two
stages never touch the same `transactions` row at once. A crash between the stages leaves some
`transactions` rows unlinked; the resumed run links them.

Tried and not kept: overlapping the writers of consecutive pages as well (the next page's links
while the previous one commits) measured about 5% faster but hung in the test suite (two pages'
transactions waiting on each other through shared rows and a small pool).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from walletsync.db.engine import Database
from walletsync.indexing.store import AssetIds, WalletTx, store_transactions, store_wallet_facts
from walletsync.providers.types import AssetInfo
from walletsync.wallets.repository import WalletRow


@dataclass(frozen=True, slots=True)
class Prepared:
    """A fetched page, ready to store."""

    views: list[WalletTx]
    cursor: dict[str, object]
    seen: int


@dataclass(frozen=True, slots=True)
class Failed:
    error: BaseException


PageQueue = asyncio.Queue[Prepared | Failed | None]
AssetInfos = Callable[[list[str]], Awaitable[list[AssetInfo]]]
OnStored = Callable[[int, int], Awaitable[None]]
"""Called after each page commits, in order, with (transactions new to the wallet, transactions seen)."""


async def store_pages(
    db: Database,
    wallet: WalletRow,
    pages: PageQueue,
    *,
    asset_ids: AssetIds,
    asset_infos: AssetInfos,
    store_raw: bool,
    on_stored: OnStored,
) -> None:
    """Store every page of `pages` (until None; a `Failed` raises its error) for `wallet`."""
    ready: PageQueue = asyncio.Queue(maxsize=1)
    in_flight: deque[set[str]] = deque()  # tx ids of each upserted page, oldest first, until it commits

    async def upsert_ahead() -> None:
        try:
            while (item := await pages.get()) is not None:
                if isinstance(item, Failed):
                    await ready.put(item)
                    return
                busy = set().union(*in_flight)
                fresh = [view for view in item.views if view.tx.tx_id not in busy]
                async with db.write() as conn:
                    await store_transactions(conn, wallet.chain, fresh, store_raw=store_raw)
                in_flight.append({view.tx.tx_id for view in item.views})
                await ready.put(item)
        except Exception as exc:  # noqa: BLE001 - handed to the writer, which re-raises it
            await ready.put(Failed(exc))
            return
        await ready.put(None)

    async def write(item: Prepared) -> int:
        mentioned = {asset for view in item.views for asset in view.amounts}
        # Metadata first, holding no connection: the lookups take one of their own.
        infos = await asset_infos(sorted(asset_ids.missing(wallet.chain, mentioned)))
        async with db.write() as conn:
            await asset_ids.insert(conn, infos)
            return await store_wallet_facts(
                conn,
                wallet_id=wallet.id,
                chain=wallet.chain,
                address=wallet.address,
                batch=item.views,
                asset_ids=asset_ids,
                cursor=item.cursor,
            )

    upserter = asyncio.create_task(upsert_ahead(), name=f"sync-upsert-{wallet.id}")
    try:
        while (item := await ready.get()) is not None:
            if isinstance(item, Failed):
                raise item.error
            new = await write(item)
            in_flight.popleft()  # pages are written in the order they were upserted
            await on_stored(new, item.seen)
    finally:
        upserter.cancel()
        await asyncio.gather(upserter, return_exceptions=True)
