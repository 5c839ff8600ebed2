"""One wallet's sync, from its stored cursor to the chain's (finalized / safe) head.

Listing and fetching run ahead of storing by a bounded number of pages (`PREFETCH_PAGES`), so the
network and the database work at the same time while memory stays bounded whatever the wallet's
size. Storing runs in two stages that overlap consecutive pages and commit them in order
(`indexing.pipeline`). A session-level advisory lock per wallet guarantees that two workers (or a
worker and `walletsync sync`) never sync the same wallet at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import structlog
from sqlalchemy import Integer, func, literal, select

from walletsync.config import Chain, Settings
from walletsync.db.engine import Database
from walletsync.errors import ConflictError, WalletsyncError
from walletsync.events.emit import emit_sync_completed, emit_sync_failed
from walletsync.indexing import state
from walletsync.indexing.pipeline import Failed, PageQueue, Prepared, store_pages
from walletsync.indexing.rollback import reconcile
from walletsync.indexing.sources import (
    CardanoSource,
    ChainNotConfiguredError,
    SolanaSource,
    TransactionSource,
)
from walletsync.indexing.staking import native_asset_id, read_staking, replace_staking
from walletsync.indexing.store import AssetIds, already_linked, wallet_view
from walletsync.providers.cardano import CardanoAdapter
from walletsync.providers.solana import SolanaAdapter
from walletsync.providers.staking import StakePosition
from walletsync.providers.types import AssetInfo
from walletsync.wallets.repository import WalletRow, get_wallet

log = structlog.get_logger(__name__)

PREFETCH_PAGES = 2
# First key of the two-key advisory lock: "wallet sync" (the second key is the wallet id).
SYNC_LOCK_CLASS = 0x5753  # "WS"

Progress = Callable[[int, int], None]
"""Called after each stored page with (transactions new to the wallet so far, transactions seen so far)."""
OnNewTransactions = Callable[[int], Awaitable[None]]


class WalletBusyError(ConflictError):
    title = "Wallet is being synced"


@dataclass(frozen=True, slots=True)
class ChainAdapters:
    solana: SolanaAdapter | None = None
    cardano: CardanoAdapter | None = None


@dataclass(frozen=True, slots=True)
class SyncReport:
    wallet_id: int
    chain: Chain
    new_transactions: int
    seen_transactions: int
    pages: int
    seconds: float


def batch_size(configured: int, cap: int | None) -> int:
    """`WALLETSYNC_SYNC_BATCH_SIZE`, lowered to what the rate limit sends with slack (`cap`): a batch
    costing the provider's whole burst conforms only when it arrives exactly on time (the lowering
    is logged where the cap is learnt, `services.build_adapters`)."""
    return configured if cap is None else min(configured, cap)


def make_source(wallet: WalletRow, adapters: ChainAdapters, settings: Settings) -> TransactionSource:
    if wallet.chain is Chain.SOLANA:
        if adapters.solana is None:
            raise ChainNotConfiguredError("no Solana RPC endpoint configured (set SOLANA_RPC_URLS)")
        return SolanaSource(
            adapters.solana,
            wallet.address,
            concurrency=settings.sync_fetch_concurrency,
            batch_size=batch_size(settings.sync_batch_size, adapters.solana.max_batch),
        )
    if adapters.cardano is None:
        raise ChainNotConfiguredError("no Blockfrost endpoint configured (set BLOCKFROST_URLS)")
    return CardanoSource(
        adapters.cardano,
        wallet.address,
        concurrency=settings.sync_fetch_concurrency,
        safety_depth=settings.cardano_safety_depth,
        rollback_window=settings.cardano_rollback_window,
    )


@asynccontextmanager
async def wallet_lock(db: Database, wallet_id: int) -> AsyncIterator[None]:
    """Hold the wallet's sync lock for the block, or raise `WalletBusyError` at once."""
    keys = (literal(SYNC_LOCK_CLASS, Integer), literal(wallet_id, Integer))
    async with db.session_engine.connect() as conn:
        acquired = await conn.scalar(select(func.pg_try_advisory_lock(*keys)))
        await conn.commit()
        if not acquired:
            raise WalletBusyError(f"wallet {wallet_id} is already being synced")
        try:
            yield
        finally:
            await conn.execute(select(func.pg_advisory_unlock(*keys)))
            await conn.commit()


def describe_error(exc: BaseException) -> str:
    if isinstance(exc, WalletsyncError):
        return f"{type(exc).__name__}: {exc.detail}"
    return f"{type(exc).__name__}: {exc}"


async def sync_wallet(
    db: Database,
    wallet_id: int,
    *,
    adapters: ChainAdapters,
    settings: Settings,
    progress: Progress | None = None,
    on_new_transactions: OnNewTransactions | None = None,
) -> SyncReport:
    """Bring the wallet's facts up to the chain head; record status and error in `sync_state`."""
    started = time.perf_counter()
    async with wallet_lock(db, wallet_id):
        async with db.write() as conn:
            wallet = await get_wallet(conn, wallet_id)
            cursor = (await state.get_sync_state(conn, wallet_id)).cursor
            await state.mark_running(conn, wallet_id)
        log.info("sync.wallet.started", wallet_id=wallet_id, chain=wallet.chain.value)
        try:
            new, seen, pages, positions = await _run(
                db,
                wallet,
                cursor,
                adapters=adapters,
                settings=settings,
                progress=progress,
                on_new_transactions=on_new_transactions,
            )
            # The staking snapshot and the sync's end in one transaction: one commit fewer on
            # every sync's critical path, and the snapshot never stored by a sync marked failed.
            async with db.write() as conn:
                asset_id = await native_asset_id(conn, wallet.chain, AssetIds())
                staking_changed = await replace_staking(
                    conn, wallet_id=wallet.id, asset_id=asset_id, positions=positions
                )
                await state.mark_done(conn, wallet_id, interval_s=settings.sync_interval_s)
                await emit_sync_completed(
                    conn, wallet, new_transactions=new, seen_transactions=seen, pages=pages
                )
            if staking_changed and on_new_transactions is not None:
                await on_new_transactions(wallet_id)  # cached balances and values include staking
        except BaseException as exc:
            error = describe_error(exc)
            async with db.write() as conn:
                await state.mark_failed(conn, wallet_id, error=error, retry_in_s=settings.sync_interval_s)
                await emit_sync_failed(conn, wallet, error=error)
            log.warning("sync.wallet.failed", wallet_id=wallet_id, error=error)
            raise
    report = SyncReport(
        wallet_id=wallet_id,
        chain=wallet.chain,
        new_transactions=new,
        seen_transactions=seen,
        pages=pages,
        seconds=time.perf_counter() - started,
    )
    log.info(
        "sync.wallet.finished",
        wallet_id=wallet_id,
        new=new,
        seen=seen,
        pages=pages,
        seconds=round(report.seconds, 3),
    )
    return report


async def _run(
    db: Database,
    wallet: WalletRow,
    cursor: dict[str, object] | None,
    *,
    adapters: ChainAdapters,
    settings: Settings,
    progress: Progress | None,
    on_new_transactions: OnNewTransactions | None,
) -> tuple[int, int, int, list[StakePosition]]:
    """Store every page; return (new, seen, pages) and what is staked now, to store at the end."""
    source = make_source(wallet, adapters, settings)
    # What is staked now is read beside the listing; stored once every page is (`indexing.staking`).
    # Staking off: nothing is read and the wallet's staking lines go (none is known to be true).
    staking = asyncio.create_task(
        read_staking(wallet.chain, wallet.address, solana=adapters.solana, cardano=adapters.cardano)
        if settings.staking
        else _no_staking(),
        name=f"sync-staking-{wallet.id}",
    )
    try:
        new, seen, pages = await _facts(
            db,
            wallet,
            source,
            cursor,
            settings=settings,
            progress=progress,
            on_new_transactions=on_new_transactions,
        )
        positions = await staking
    finally:
        staking.cancel()
        await asyncio.gather(staking, return_exceptions=True)
    return new, seen, pages, positions


async def _no_staking() -> list[StakePosition]:
    return []


async def _facts(
    db: Database,
    wallet: WalletRow,
    source: TransactionSource,
    cursor: dict[str, object] | None,
    *,
    settings: Settings,
    progress: Progress | None,
    on_new_transactions: OnNewTransactions | None,
) -> tuple[int, int, int]:
    owners = await source.owners()
    # Transactions rolled back since they were indexed are retracted first (cursor rewound with them).
    cursor, retracted = await reconcile(db, wallet, source, cursor)
    if retracted and on_new_transactions is not None:
        await on_new_transactions(wallet.id)  # the wallet's facts changed: cached reads are stale
    queue: PageQueue = asyncio.Queue(maxsize=PREFETCH_PAGES)
    asset_ids = AssetIds()
    # Metadata of each asset new to this run is looked up as soon as a transaction mentions it,
    # while the rest of the page is still being fetched (not one round trip after the page).
    asset_lookups: dict[str, asyncio.Task[AssetInfo | None]] = {}

    async def lookup(key: str) -> AssetInfo | None:
        async with db.primary.connect() as conn:
            if not await asset_ids.load(conn, source.chain, [key]):
                return None  # already in `assets`
        return (await source.asset_infos({key}))[0]

    def on_assets(keys: Iterable[str]) -> None:
        for key in keys:
            if key not in asset_lookups:
                asset_lookups[key] = asyncio.create_task(lookup(key))

    store_raw = settings.store_raw_transactions

    async def produce() -> None:
        try:
            async for page in source.pages(cursor):
                async with db.primary.connect() as conn:
                    linked = await already_linked(conn, wallet.id, [ref.tx_id for ref in page.refs])
                todo = [ref for ref in page.refs if ref.tx_id not in linked]
                txs = await source.fetch(todo, on_assets=on_assets)
                await queue.put(
                    Prepared(
                        views=[wallet_view(tx, owners, encode_raw=store_raw) for tx in txs],
                        cursor=source.settle(page, txs),
                        seen=len(page.refs),
                    )
                )
        except Exception as exc:  # noqa: BLE001 - handed to the consumer, which re-raises it
            # (CancelledError is not caught: the consumer cancels us when it stops early.)
            await queue.put(Failed(exc))
            return
        await queue.put(None)

    async def asset_infos(keys: list[str]) -> list[AssetInfo]:
        return [info for key in keys if (info := await asset_lookups[key]) is not None]

    new_total = seen_total = pages = 0

    async def on_stored(new: int, seen: int) -> None:
        nonlocal new_total, seen_total, pages
        pages += 1
        new_total += new
        seen_total += seen
        if new and on_new_transactions is not None:
            await on_new_transactions(wallet.id)
        if progress is not None:
            progress(new_total, seen_total)

    producer = asyncio.create_task(produce(), name=f"sync-produce-{wallet.id}")
    try:
        await store_pages(
            db,
            wallet,
            queue,
            asset_ids=asset_ids,
            asset_infos=asset_infos,
            store_raw=store_raw,
            on_stored=on_stored,
        )
    finally:
        producer.cancel()
        for task in asset_lookups.values():
            task.cancel()
        await asyncio.gather(producer, *asset_lookups.values(), return_exceptions=True)
    return new_total, seen_total, pages
