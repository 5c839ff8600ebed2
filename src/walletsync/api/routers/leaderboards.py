"""`/v1/leaderboards/{kind}`: the top wallets by value or activity, cached for `WALLETSYNC_CACHE_TTL_LEADERBOARD`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from starlette.responses import Response

from walletsync.api.deps import ReadAccess, StateDep, cached_json
from walletsync.api.errors import error_responses
from walletsync.api.market_schemas import LeaderboardEntryOut, LeaderboardOut, decimal_str
from walletsync.config import Chain
from walletsync.portfolio.leaderboard import LeaderboardKind, leaderboard

router = APIRouter(prefix="/v1/leaderboards", tags=["leaderboards"])


@router.get(
    "/{kind}",
    response_model=LeaderboardOut,
    responses=error_responses(401, 403, 413, 422, 429, 500),
    summary="Top wallets",
)
async def show(
    kind: Annotated[LeaderboardKind, Path(description="value, activity_24h or activity_7d.")],
    state: StateDep,
    _: ReadAccess,
    chain: Annotated[
        Chain | None, Query(description="Only wallets of this chain; all chains when absent.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100, description="How many wallets, 1 to 100.")] = 10,
) -> Response:
    """`value`: by the value of priced holdings in the quote currency (`unpriced_assets` counts the
    holdings left out); a wallet holding nothing priced has `score: null` and ranks after every wallet
    with a value, negative values included; `activity_24h` / `activity_7d`: by transactions in the last 24 hours / 7 days.
    Boards are computed by one query and cached for `WALLETSYNC_CACHE_TTL_LEADERBOARD` seconds (`computed_at`)."""
    quote = state.settings.quote_currency.upper()

    async def load() -> bytes:
        async with state.db.read() as conn:
            board = await leaderboard(conn, kind=kind, chain=chain, limit=limit, quote=quote)
        out = LeaderboardOut(
            kind=board.kind.value,
            chain=Chain(board.chain) if board.chain else None,
            quote=board.quote,
            since=board.since,
            computed_at=board.computed_at,
            entries=[
                LeaderboardEntryOut(
                    rank=e.rank,
                    wallet_id=e.wallet_id,
                    chain=Chain(e.chain),
                    address=e.address,
                    label=e.label,
                    score=None if e.score is None else decimal_str(e.score),
                    unpriced_assets=e.unpriced_assets,
                )
                for e in board.entries
            ],
        )
        return out.model_dump_json().encode()

    return await cached_json(
        state,
        "leaderboard",
        kind.value,
        chain.value if chain else "all",
        limit,
        quote,
        ttl=state.settings.cache_ttl_leaderboard_s,
        load=load,
    )
