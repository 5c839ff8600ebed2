"""`/v1/wallets`: track, list, show and stop tracking wallets."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from starlette.responses import Response

from walletsync.api.deps import (
    Limit,
    ReadAccess,
    StateDep,
    WriteAccess,
    cursor_query,
    decode_cursor,
    encode_cursor,
    invalid_param,
)
from walletsync.api.errors import error_responses
from walletsync.api.schemas import Page, WalletCreated, WalletIn, WalletOut
from walletsync.config import Chain
from walletsync.jobs.api import defer_sync
from walletsync.wallets.addresses import InvalidAddressError, validate_address
from walletsync.wallets.repository import WalletRow, add_wallet, get_wallet, list_wallets, remove_wallet

router = APIRouter(prefix="/v1/wallets", tags=["wallets"])

WalletId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The wallet's id.")]
READ_ERRORS = error_responses(401, 403, 413, 422, 429, 500)


def wallet_out(row: WalletRow) -> WalletOut:
    return WalletOut(
        id=row.id,
        chain=row.chain,
        address=row.address,
        label=row.label,
        group=row.group_name,
        created_at=row.created_at,
    )


@router.post(
    "",
    status_code=201,
    response_model=WalletCreated,
    responses=error_responses(400, 401, 403, 409, 413, 422, 429, 500),
    summary="Track a wallet",
)
async def create_wallet(body: WalletIn, state: StateDep, _: WriteAccess, response: Response) -> WalletCreated:
    """Track a wallet (the address is validated for its chain) and queue its first sync."""
    try:
        address = validate_address(body.chain, body.address, cardano_network=state.settings.cardano_network)
    except InvalidAddressError as exc:
        raise invalid_param("body", "address", exc.detail) from None
    async with state.db.write() as conn:
        row = await add_wallet(conn, chain=body.chain, address=address, label=body.label, group=body.group)
        job_id = await defer_sync(conn, row.id)
    response.headers["Location"] = f"/v1/wallets/{row.id}"
    return WalletCreated(**wallet_out(row).model_dump(), sync_job_id=job_id)


@router.get("", response_model=Page[WalletOut], responses=READ_ERRORS, summary="List wallets")
async def list_all(
    state: StateDep,
    _: ReadAccess,
    limit: Limit = 100,
    cursor: Annotated[str | None, cursor_query("wallets", int)] = None,
    chain: Annotated[Chain | None, Query(description="Only wallets of this chain.")] = None,
    group: Annotated[
        str | None, Query(min_length=1, max_length=100, description="Only wallets of this group.")
    ] = None,
) -> Page[WalletOut]:
    """Wallets in the order they were added, a page at a time."""
    after_id: int | None = None
    if cursor is not None:
        (after_id,) = decode_cursor(cursor, "wallets", int)
    async with state.db.read() as conn:
        rows = await list_wallets(conn, after_id=after_id, limit=limit + 1, chain=chain, group=group)
    page, more = rows[:limit], len(rows) > limit
    return Page[WalletOut](
        items=[wallet_out(r) for r in page],
        next_cursor=encode_cursor("wallets", [page[-1].id]) if more else None,
    )


@router.get(
    "/{wallet_id}", response_model=WalletOut, responses=error_responses(401, 403, 404, 413, 422, 429, 500)
)
async def show(wallet_id: WalletId, state: StateDep, _: ReadAccess) -> WalletOut:
    """One wallet."""
    async with state.db.read(after_lsn=await state.cache.wallet_watermark(wallet_id)) as conn:
        return wallet_out(await get_wallet(conn, wallet_id))


@router.delete(
    "/{wallet_id}",
    status_code=204,
    response_class=Response,
    responses=error_responses(401, 403, 404, 413, 422, 429, 500),
    summary="Stop tracking a wallet",
)
async def delete(wallet_id: WalletId, state: StateDep, _: WriteAccess) -> Response:
    """Stop tracking a wallet; its balance history goes with it (shared transactions stay)."""
    async with state.db.write() as conn:
        await remove_wallet(conn, wallet_id)
    await state.cache.invalidate_wallet(wallet_id)
    return Response(status_code=204)
