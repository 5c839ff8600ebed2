"""htmx fragments and the dashboard's actions: a wallet's sync status (polled with backoff), its
balances and transactions (re-read when a sync lands), "Sync now", and retrying a dead job.

Live updates come through the event stream (`static/js/live.js`: an `EventSource` on
`/v1/events/stream`, authenticated by the session cookie): while it is open, the page's requests say so
(`X-Walletsync-Live: 1`) and the status fragment waits for the stream's events (`wallet-live`) instead
of a timer. Without the stream, fragments poll, and back off while nothing changes: the status
fragment asks again after `poll_delay(n)` seconds (2, 4, 8 … up to 60), and starts over at 2 s when
something moved; a running job's progress is polled every second either way. When the wallet's
transaction count changes, the response carries `HX-Trigger: wallet-updated`, on which the balances
and transactions panels reload themselves, so new transactions appear without a reload.
Fragments read the primary: they are what a client polls right after a write.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Query, Request
from starlette.responses import Response

from walletsync.api.keys import Scope
from walletsync.indexing.state import get_sync_state, sync_version
from walletsync.jobs.api import (
    JobInfo,
    JobNotFoundError,
    JobNotRetryableError,
    defer_sync,
    get_job,
    retry_job,
)
from walletsync.portfolio.balances import wallet_balances
from walletsync.wallets.repository import get_wallet
from walletsync.web import views
from walletsync.web.auth import SessionDep, WebStateDep, check_csrf, require_scope
from walletsync.web.render import page
from walletsync.web.transactions import transactions_context

router = APIRouter(prefix="/web", include_in_schema=False)

WalletIdPath = Annotated[int, Path(ge=1, le=2**63 - 1)]
MAX_DELAY_S = 60
LIVE_HEADER = "x-walletsync-live"
FINISHED = frozenset({"succeeded", "failed", "cancelled", "aborted"})


def poll_delay(n: int) -> int:
    return int(min(2 ** (n + 1), MAX_DELAY_S))


def is_live(request: Request) -> bool:
    """Whether the page asking has its event stream open (`live.js` says so in a header): then the
    fragment waits for the stream's events rather than polling on a timer."""
    return request.headers.get(LIVE_HEADER) == "1"


async def _status_fragment(
    request: Request, state: WebStateDep, wallet_id: int, *, job_id: int | None, n: int, seen: int | None
) -> Response:
    async with state.db.primary.connect() as conn:
        await get_wallet(conn, wallet_id)
        sync = await get_sync_state(conn, wallet_id)
        job: JobInfo | None = None
        if job_id is not None:
            try:
                job = await get_job(conn, job_id)
            except JobNotFoundError:
                job = None
    changed = seen is not None and sync.tx_count != seen
    job_running = job is not None and job.status not in FINISHED
    n = 0 if (changed or job_running) else n + 1
    response = page(
        request,
        "partials/sync_status.html",
        {
            "live": is_live(request),
            "wallet_id": wallet_id,
            "sync": sync,
            "job": job,
            "job_running": job_running,
            "next_job": job.id if job_running and job is not None else None,
            "n": n,
            "delay": 1 if job_running else poll_delay(n),
        },
    )
    if changed:
        response.headers["HX-Trigger"] = "wallet-updated"
    return response


@router.get("/wallets/{wallet_id}/sync-status")
async def sync_status(
    request: Request,
    state: WebStateDep,
    _: SessionDep,
    wallet_id: WalletIdPath,
    job: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    n: Annotated[int, Query(ge=0, le=64)] = 0,
    seen: Annotated[int | None, Query(ge=0)] = None,
) -> Response:
    return await _status_fragment(request, state, wallet_id, job_id=job, n=n, seen=seen)


@router.post("/wallets/{wallet_id}/sync")
async def sync_now(
    request: Request,
    state: WebStateDep,
    session: SessionDep,
    wallet_id: WalletIdPath,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Queue a sync (write scope), then show its progress in place of the status panel."""
    check_csrf(session, request, csrf_token)
    require_scope(session, Scope.WRITE, "Syncing a wallet")
    async with state.db.write() as conn:
        job_id = await defer_sync(conn, wallet_id)
        seen = (await get_sync_state(conn, wallet_id)).tx_count
    return await _status_fragment(request, state, wallet_id, job_id=job_id, n=0, seen=seen)


@router.get("/wallets/{wallet_id}/balances")
async def balances_fragment(
    request: Request, state: WebStateDep, _: SessionDep, wallet_id: WalletIdPath
) -> Response:
    async with state.db.primary.connect() as conn:
        await get_wallet(conn, wallet_id)
        balances = await wallet_balances(conn, wallet_id)
    return page(request, "partials/balances.html", {"balances": balances, "wallet_id": wallet_id})


@router.get("/wallets/{wallet_id}/transactions")
async def transactions_fragment(
    request: Request,
    state: WebStateDep,
    _: SessionDep,
    wallet_id: WalletIdPath,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Response:
    async with state.db.primary.connect() as conn:
        wallet = await get_wallet(conn, wallet_id)
        context = await transactions_context(conn, state.settings, wallet, cursor=cursor)
    return page(request, "partials/transactions.html", context)


@router.get("/portfolio/version")
async def portfolio_version(
    request: Request,
    state: WebStateDep,
    _: SessionDep,
    scope: Annotated[str, Query(max_length=120)] = "all",
    n: Annotated[int, Query(ge=0, le=64)] = 0,
    seen: Annotated[str, Query(max_length=100)] = "",
) -> Response:
    """The portfolio's poller: when any of the scope's wallets synced something since `seen`, the
    response triggers `portfolio-updated` and the page's body reloads itself (without a page reload).
    Asked on the event stream's events while the page has it open, else polled with backoff."""
    async with state.db.primary.connect() as conn:
        wallets, _truncated = await views.all_wallets(conn)
        version = await sync_version(conn, [w.id for w in views.select_wallets(wallets, scope)])
    changed = bool(seen) and version != seen
    n = 0 if changed else n + 1
    response = page(
        request,
        "partials/portfolio_poll.html",
        {"scope": scope, "n": n, "version": version, "delay": poll_delay(n), "live": is_live(request)},
    )
    if changed:
        response.headers["HX-Trigger"] = "portfolio-updated"
    return response


@router.post("/jobs/{job_id}/retry")
async def retry(
    request: Request,
    state: WebStateDep,
    session: SessionDep,
    job_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Requeue a failed job (admin); the row says what happened."""
    check_csrf(session, request, csrf_token)
    require_scope(session, Scope.ADMIN, "Retrying a job")
    try:
        job = await retry_job(state.db, job_id)
    except (JobNotFoundError, JobNotRetryableError) as exc:
        return page(request, "partials/message.html", {"message": str(exc), "kind": "error"})
    return page(
        request, "partials/message.html", {"message": f"Job {job.id} requeued ({job.status}).", "kind": "ok"}
    )
