"""`/v1/wallets/{id}/balances`: a wallet's balances now or at a point in time, cache-aside."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from walletsync.api.deps import ReadAccess, StateDep, Timestamp, as_utc, cached_json
from walletsync.api.errors import error_responses
from walletsync.api.routers.wallets import WalletId
from walletsync.api.schemas import BalanceOut, BalancesOut
from walletsync.portfolio.balances import wallet_balances
from walletsync.wallets.repository import get_wallet

router = APIRouter(prefix="/v1/wallets", tags=["balances"])


@router.get(
    "/{wallet_id}/balances",
    response_model=BalancesOut,
    responses=error_responses(401, 403, 404, 413, 422, 429, 500),
    summary="A wallet's balances",
)
async def balances(
    wallet_id: WalletId,
    state: StateDep,
    _: ReadAccess,
    at: Annotated[
        Timestamp | None, Query(description="Balances as of this time (inclusive); now when absent.")
    ] = None,
) -> Response:
    """Non-zero balance lines per asset, native asset first; amounts in base units with `decimals`.

    Each line has a `kind`: `liquid`, or native staking (`staked`: Solana stake accounts; `rewards`:
    unwithdrawn Cardano rewards), read at each sync. With `at=`, a staking line appears (at its
    current amount) only if its account was first observed at or before that time (staking is a
    snapshot, not history).

    Served from the cache (`WALLETSYNC_CACHE_TTL_BALANCES`); a sync that stores new transactions for the wallet
    invalidates it at once.
    """
    at_utc = as_utc(at, "at")

    async def load() -> bytes:
        async with state.db.read() as conn:
            wallet = await get_wallet(conn, wallet_id)
            rows = await wallet_balances(conn, wallet_id, at=at_utc)
        out = BalancesOut(
            wallet_id=wallet.id,
            chain=wallet.chain,
            address=wallet.address,
            at=at_utc,
            balances=[
                BalanceOut(
                    asset_id=b.asset_id,
                    asset_key=b.asset_key,
                    symbol=b.symbol,
                    name=b.name,
                    decimals=b.decimals,
                    amount=str(b.amount),
                    formatted=b.formatted(),
                    kind=b.kind,
                )
                for b in rows
            ],
        )
        return out.model_dump_json().encode()

    at_key = at_utc.isoformat() if at_utc is not None else "now"
    return await cached_json(
        state,
        "balances",
        wallet_id,
        at_key,
        ttl=state.settings.cache_ttl_balances_s,
        load=load,
        wallet_id=wallet_id,
    )
