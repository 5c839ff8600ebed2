"""`/v1/wallets/{id}/transactions`: a wallet's transactions, newest first, filtered and paginated."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from walletsync.api.deps import (
    Limit,
    ReadAccess,
    StateDep,
    Timestamp,
    as_utc,
    cursor_query,
    decode_cursor,
    encode_cursor,
    ordered,
)
from walletsync.api.errors import error_responses
from walletsync.api.routers.wallets import WalletId
from walletsync.api.schemas import DeltaOut, Page, TransactionOut
from walletsync.wallets.repository import TxRow, get_wallet, list_transactions

router = APIRouter(prefix="/v1/wallets", tags=["transactions"])


def _tx_out(row: TxRow) -> TransactionOut:
    return TransactionOut(
        tx_id=row.tx_id,
        chain=row.chain,
        height=row.height,
        block_time=row.block_time,
        fee=str(row.fee),
        success=row.success,
        deltas=[
            DeltaOut(asset_key=d.asset_key, symbol=d.symbol, decimals=d.decimals, amount=str(d.amount))
            for d in row.deltas
        ],
    )


def _before(cursor: str) -> tuple[int, str]:
    height, tx_id = decode_cursor(cursor, "transactions", int, str)
    return int(height), str(tx_id)


@router.get(
    "/{wallet_id}/transactions",
    response_model=Page[TransactionOut],
    responses=error_responses(401, 403, 404, 413, 422, 429, 500),
    summary="List a wallet's transactions",
)
async def list_wallet_transactions(
    wallet_id: WalletId,
    state: StateDep,
    _: ReadAccess,
    limit: Limit = 100,
    cursor: Annotated[str | None, cursor_query("transactions", int, str)] = None,
    asset: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=200,
            description="Only transactions that changed this asset (its `asset_key`).",
        ),
    ] = None,
    since: Annotated[Timestamp | None, Query(description="Only transactions at or after this time.")] = None,
    until: Annotated[Timestamp | None, Query(description="Only transactions before this time.")] = None,
) -> Page[TransactionOut]:
    """Newest first (by block height, then transaction id); each with its balance changes for the wallet."""
    before = _before(cursor) if cursor is not None else None
    since_utc, until_utc = as_utc(since, "since"), as_utc(until, "until")
    ordered(since_utc, until_utc, ("since", "until"))
    # Not cached, so it checks the wallet's write watermark itself (read-your-writes on replicas).
    async with state.db.read(after_lsn=await state.cache.wallet_watermark(wallet_id)) as conn:
        await get_wallet(conn, wallet_id)
        rows = await list_transactions(
            conn, wallet_id, before=before, limit=limit + 1, asset=asset, since=since_utc, until=until_utc
        )
    page, more = rows[:limit], len(rows) > limit
    next_cursor = None
    if more and page[-1].height is not None:
        next_cursor = encode_cursor("transactions", [page[-1].height, page[-1].tx_id])
    return Page[TransactionOut](items=[_tx_out(r) for r in page], next_cursor=next_cursor)
