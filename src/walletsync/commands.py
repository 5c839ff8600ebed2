"""The async bodies of the longer CLI commands (`sync`, `balances`, `serve`), kept out of `cli/`
so it stays a list of thin command functions."""

from __future__ import annotations

import asyncio
from datetime import datetime

import structlog
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from walletsync.config import Chain, Settings
from walletsync.db.engine import Database
from walletsync.indexing.sync import SyncReport, make_source, sync_wallet
from walletsync.portfolio.balances import Balance, wallet_balances
from walletsync.services import Services, open_services
from walletsync.wallets.repository import WalletRow, find_wallet, get_wallet

log = structlog.get_logger(__name__)


async def resolve_wallet(db: Database, address_or_id: str, chain: Chain | None) -> WalletRow:
    async with db.read() as conn:
        if address_or_id.isdigit():
            return await get_wallet(conn, int(address_or_id))
        return await find_wallet(conn, address_or_id, chain)


def sync_progress(console: Console) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        TextColumn("{task.completed:>6.0f} new · {task.fields[seen]} listed"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


async def sync_with_progress(
    services: Services, wallet: WalletRow, progress: Progress, *, total: int | None = None
) -> SyncReport:
    """Sync one wallet, advancing a row of `progress` as pages are stored."""
    label = f"{wallet.chain.value} {wallet.address[:10]}…"
    task = progress.add_task(label, total=total, seen=0)

    def advance(new: int, seen: int) -> None:
        progress.update(task, completed=new, seen=seen)

    report = await sync_wallet(
        services.db,
        wallet.id,
        adapters=services.adapters,
        settings=services.settings,
        progress=advance,
        on_new_transactions=services.invalidate_wallet,
    )
    progress.update(task, completed=report.new_transactions, total=total or report.new_transactions)
    return report


async def sync_in_foreground(
    settings: Settings, url: str, address_or_id: str, chain: Chain | None, *, console: Console
) -> SyncReport:
    async with open_services(settings, url, application_name="walletsync-sync") as services:
        wallet = await resolve_wallet(services.db, address_or_id, chain)
        # Without a provider for the chain the sync cannot run: say so before sync_wallet records the
        # wallet as failed in sync_state (the worker's retries and the API would then report an error
        # the operator never caused by syncing).
        make_source(wallet, services.adapters, settings)
        with sync_progress(console) as progress:
            return await sync_with_progress(services, wallet, progress)


async def wallet_balances_for(
    settings: Settings, url: str, address_or_id: str, chain: Chain | None, *, at: datetime | None
) -> tuple[WalletRow, list[Balance]]:
    db = Database.from_settings(url, settings, application_name="walletsync-cli")
    try:
        wallet = await resolve_wallet(db, address_or_id, chain)
        async with db.read() as conn:
            return wallet, await wallet_balances(conn, wallet.id, at=at)
    finally:
        await db.dispose()


async def serve_all(
    settings: Settings, url: str, *, host: str, port: int, concurrency: int, console: Console | None = None
) -> None:
    """The API and a worker (with the periodic scheduler) in one process until SIGINT/SIGTERM."""
    from walletsync.market.first_run import queue_first_prices_at_start

    async with open_services(settings, url, application_name="walletsync-serve") as services:
        await queue_first_prices_at_start(services)
        await serve_services(services, host=host, port=port, concurrency=concurrency, console=console)


async def print_signin_link(services: Services, *, host: str, port: int, console: Console) -> None:
    """Like Jupyter: a one-time dashboard sign-in link (10 minutes, consumed on first use)."""
    from walletsync.web import create_signin_link

    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104 (a display name, not a bind)
    shown = f"[{shown}]" if ":" in shown else shown
    link = await create_signin_link(services.db, f"http://{shown}:{port}")
    console.print(
        f"[bold]dashboard[/]: open {link} (a one-time sign-in link, valid 10 minutes)", soft_wrap=True
    )


async def serve_services(
    services: Services, *, host: str, port: int, concurrency: int, console: Console | None = None
) -> None:
    import uvicorn

    from walletsync.api.app import create_app
    from walletsync.jobs.worker import run_worker
    from walletsync.signals import termination_requested

    config = uvicorn.Config(
        create_app(services.settings, database=services.db, services=services),
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    stop_worker = asyncio.Event()
    worker = asyncio.create_task(
        run_worker(services, concurrency=concurrency, install_signal_handlers=False, stop=stop_worker),
        name="worker",
    )

    def worker_ended(task: asyncio.Task[None]) -> None:
        # The worker only ends by itself when it gave up on the database: stop the API too, so the
        # process exits non-zero (the error is raised below) and its supervisor restarts it.
        if not stop_worker.is_set():
            server.should_exit = True

    worker.add_done_callback(worker_ended)
    log.info("serve.started", host=host, port=port, concurrency=concurrency)
    try:
        if console is not None and services.settings.dashboard_enabled:
            await print_signin_link(services, host=host, port=port, console=console)
        if not termination_requested():  # a SIGTERM while starting, its cancellation lost on the way
            await server.serve()  # returns on SIGINT/SIGTERM (uvicorn handles the signals)
    finally:
        stop_worker.set()  # not cancelled: a cancellation can be lost while the worker starts
        await worker  # re-raises the worker's error (DatabaseUnavailableError: exit 75)
