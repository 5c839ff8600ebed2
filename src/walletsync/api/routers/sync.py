"""`/v1/wallets/{id}/sync`: a wallet's sync state, and asking for a sync now."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from walletsync.api.deps import KeyedReadAccess, StateDep, WriteAccess
from walletsync.api.errors import error_responses
from walletsync.api.routers.wallets import WalletId
from walletsync.api.schemas import SyncAccepted, SyncStatusOut
from walletsync.indexing.state import get_sync_state
from walletsync.jobs.api import defer_sync
from walletsync.wallets.repository import get_wallet

router = APIRouter(prefix="/v1/wallets", tags=["sync"])


@router.get(
    "/{wallet_id}/sync",
    response_model=SyncStatusOut,
    responses=error_responses(401, 403, 404, 413, 422, 429, 500),
    summary="A wallet's sync state",
)
async def sync_status(wallet_id: WalletId, state: StateDep, _: KeyedReadAccess) -> SyncStatusOut:
    """Status, cursor, how long since the last completed sync, and the last error.

    Read from the primary: it is what a client polls after asking for a sync.
    """
    async with state.db.primary.connect() as conn:
        await get_wallet(conn, wallet_id)
        status = await get_sync_state(conn, wallet_id)
    return SyncStatusOut(
        wallet_id=status.wallet_id,
        status=status.status,  # the table's CHECK constraint bounds it to the Literal's values
        cursor=status.cursor,
        last_height=status.last_height,
        last_synced_at=status.last_synced_at,
        lag_seconds=status.lag_seconds,
        error=status.error,
        tx_count=status.tx_count,
        next_sync_at=status.next_sync_at,
        updated_at=status.updated_at,
    )


@router.post(
    "/{wallet_id}/sync",
    status_code=202,
    response_model=SyncAccepted,
    responses=error_responses(401, 403, 404, 413, 422, 429, 500),
    summary="Sync a wallet now",
)
async def request_sync(
    wallet_id: WalletId, state: StateDep, _: WriteAccess, response: Response
) -> SyncAccepted:
    """Queue a sync and return at once; if one is already waiting, that job's id is returned."""
    async with state.db.write() as conn:
        job_id = await defer_sync(conn, wallet_id)
    response.headers["Location"] = f"/v1/jobs/{job_id}"
    return SyncAccepted(job_id=job_id, wallet_id=wallet_id, status_url=f"/v1/jobs/{job_id}")
