"""Full dashboard pages: portfolio, wallet, leaderboards, operations. (The market terminal is in
`market.py`.) Each page reads through the domain packages and renders one template; what the
signed-in key's scope does not allow is left out of the page, and refused if asked for anyway."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from walletsync.api.keys import Scope
from walletsync.config import Chain
from walletsync.events.registry import list_deliveries, list_webhooks
from walletsync.events.streams import stream_position
from walletsync.indexing.state import get_sync_state, sync_version
from walletsync.jobs.api import list_jobs, queue_depth
from walletsync.market.candles import latest_priced_bar_ts
from walletsync.portfolio.balances import wallet_balances
from walletsync.portfolio.leaderboard import LeaderboardKind, leaderboard
from walletsync.wallets.repository import WalletNotFoundError, get_wallet
from walletsync.web import views
from walletsync.web.auth import SessionDep, WebStateDep, require_scope
from walletsync.web.operations import provider_rows
from walletsync.web.render import page
from walletsync.web.sessions import WebSession
from walletsync.web.transactions import transactions_context

router = APIRouter(prefix="/web", include_in_schema=False)

MAX_WEBHOOKS = 20  # the operations page shows the first 20 webhooks, each with its last 5 deliveries

ScopeParam = Annotated[str, Query(alias="scope", max_length=120, pattern=r"^(all|group:.+|wallet:\d+)$")]
IntervalParam = Annotated[str | None, Query(max_length=8, pattern=r"^[0-9a-z]+$")]
RangeParam = Annotated[str, Query(alias="range", pattern=r"^(7d|30d|90d|1y|all)$")]
ModeParam = Annotated[str, Query(pattern=r"^(lines|stacked|total)$")]
MODES = [("lines", "Total and each wallet"), ("stacked", "Wallets stacked"), ("total", "Total only")]


def base_context(session: WebSession, active: str, **extra: Any) -> dict[str, Any]:
    scope = session.principal.scope
    return {
        "session": session,
        "csrf_token": session.csrf_token,
        "active": active,
        "can_write": scope.allows(Scope.WRITE),
        "is_admin": scope.allows(Scope.ADMIN),
        **extra,
    }


def intervals_of(state_intervals: list[str]) -> list[str]:
    return state_intervals or ["1day"]


@router.get("/")
async def portfolio_page(
    request: Request,
    state: WebStateDep,
    session: SessionDep,
    scope: ScopeParam = "all",
    interval: IntervalParam = None,
    range_key: RangeParam = views.DEFAULT_RANGE,
    mode: ModeParam = "lines",
) -> Response:
    quote = state.settings.quote_currency.upper()
    intervals = intervals_of(state.settings.price_intervals)
    chosen = interval if interval in intervals else ("1day" if "1day" in intervals else intervals[0])
    async with state.db.read() as conn:
        # Before the data: the page's stream resumes from here and its poller compares with this
        # version, so a sync committed while the page loads still shows (issue 15's gap).
        after = await stream_position(conn)
        wallets, _truncated = await views.all_wallets(conn)
        version = await sync_version(conn, [w.id for w in views.select_wallets(wallets, scope)])
        view = await views.portfolio(conn, quote=quote, scope_key=scope)
        latest = await latest_priced_bar_ts(conn, chosen)
    return page(
        request,
        "portfolio.html",
        base_context(
            session,
            "portfolio",
            view=view,
            intervals=intervals,
            interval=chosen,
            ranges=list(views.RANGES),
            range_key=range_key,
            latest=latest,
            mode=mode,
            modes=MODES,
            after=after,
            version=version,
        ),
    )


@router.get("/wallets/{wallet_id}")
async def wallet_page(
    request: Request,
    state: WebStateDep,
    session: SessionDep,
    wallet_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Response:
    async with state.db.read() as conn:
        after = await stream_position(conn)  # before the data: see `stream_position`
        try:
            wallet = await get_wallet(conn, wallet_id)
        except WalletNotFoundError:
            return page(
                request,
                "error.html",
                {"message": f"No wallet with id {wallet_id}.", "status": 404},
                status_code=404,
            )
        balances = await wallet_balances(conn, wallet_id)
        txs = await transactions_context(conn, state.settings, wallet, cursor=cursor)
    async with state.db.primary.connect() as conn:
        sync = await get_sync_state(conn, wallet_id)  # the primary: what "Sync now" polls
    return page(
        request,
        "wallet.html",
        base_context(session, "portfolio", balances=balances, sync=sync, after=after, **txs),
    )


@router.get("/leaderboards")
async def leaderboards_page(
    request: Request,
    state: WebStateDep,
    session: SessionDep,
    chain: Annotated[Chain | None, Query()] = None,
) -> Response:
    quote = state.settings.quote_currency.upper()
    async with state.db.read() as conn:
        boards = [
            await leaderboard(conn, kind=kind, chain=chain, limit=10, quote=quote) for kind in LeaderboardKind
        ]
    return page(
        request,
        "leaderboards.html",
        base_context(session, "leaderboards", boards=boards, chain=chain, chains=list(Chain), quote=quote),
    )


@router.get("/operations")
async def operations_page(request: Request, state: WebStateDep, session: SessionDep) -> Response:
    require_scope(session, Scope.ADMIN, "The operations page")
    async with state.db.primary.connect() as conn:
        depth = await queue_depth(conn)
        failed = await list_jobs(conn, status="failed", limit=50)
        recent = await list_jobs(conn, limit=20)
        hooks = await list_webhooks(conn)
        deliveries = {h.id: await list_deliveries(conn, h.id, limit=5) for h in hooks[:MAX_WEBHOOKS]}
    endpoints = await provider_rows(state.db, now=datetime.now(UTC))
    return page(
        request,
        "operations.html",
        base_context(
            session,
            "operations",
            depth=depth,
            failed=failed,
            recent=recent,
            endpoints=endpoints,
            hooks=hooks[:MAX_WEBHOOKS],
            deliveries=deliveries,
        ),
    )
