"""The `walletsync` command (typer + rich): one thin function per command, logic in the packages.

Errors walletsync raises on purpose (`WalletsyncError`) print as one line on stderr and exit with
the error's `exit_code`; nothing prints a traceback unless `WALLETSYNC_LOG_LEVEL=DEBUG`.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from walletsync import __version__
from walletsync.config import Chain, Settings, get_settings
from walletsync.errors import WalletsyncError
from walletsync.logs import configure_logging
from walletsync.runtime import tune_gc_for_throughput

if TYPE_CHECKING:
    from walletsync.db.engine import Database
    from walletsync.db.migrate import MigrationStatus
    from walletsync.indexing.state import SyncStatus
    from walletsync.jobs.api import JobInfo
    from walletsync.portfolio.balances import Balance
    from walletsync.wallets.repository import WalletRow

app = typer.Typer(
    name="walletsync",
    help="Self-hosted wallet indexer and portfolio API for Solana and Cardano.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
migrate_app = typer.Typer(help="Apply, revert and inspect database migrations.", no_args_is_help=True)
app.add_typer(migrate_app, name="migrate")

T = TypeVar("T")

console = Console()
err_console = Console(stderr=True)


def load(*, interactive: bool = True) -> Settings:
    """Settings for this command, with logging configured from them.

    Interactive commands print for a person, so their logs start at WARNING unless DEBUG is asked for;
    long-running services (serve, worker, api) log at the configured level.
    """
    settings = get_settings()
    level = settings.log_level
    if interactive and level in ("INFO",):
        level = "WARNING"
    configure_logging(level, settings.log_format)
    return settings


@app.command()
def version() -> None:
    """Print the walletsync version."""
    console.print(f"walletsync {__version__}")


@app.command()
def doctor() -> None:
    """Check the database, Redis and provider endpoints, and print a table of what works."""
    from walletsync.doctor import run_checks

    settings = load()
    results = run_checks(settings)
    table = Table(title="walletsync doctor")
    table.add_column("check")
    table.add_column("status")
    table.add_column("detail", overflow="fold")
    for result in results:
        mark = "[green]ok[/]" if result.ok else ("[yellow]skipped[/]" if result.skipped else "[red]FAIL[/]")
        table.add_row(result.name, mark, result.detail)
    console.print(table)
    if any(not r.ok and not r.skipped for r in results):
        raise typer.Exit(1)


def _migration_target() -> str:
    """The URL migrations run on (never auto-migrated first), after printing which database it is."""
    from walletsync.runtime import prepare_database

    settings = load()
    target = prepare_database(settings, auto_migrate=False)
    console.print(f"database: {target.describe(settings)}")
    return target.migration_url


def _print_revision(status: MigrationStatus) -> None:
    console.print(f"at revision {', '.join(status.current) or 'base'} (head {status.head})")


@migrate_app.command("up")
def migrate_up(
    revision: Annotated[str, typer.Argument(help="Target revision (default: the newest).")] = "head",
) -> None:
    """Apply migrations up to REVISION. Running it twice is a no-op."""
    from walletsync.db import migrate

    _print_revision(migrate.upgrade(_migration_target(), revision))


@migrate_app.command("down")
def migrate_down(
    revision: Annotated[str, typer.Argument(help="Target revision: an id, -1 (default) or base.")] = "-1",
) -> None:
    """Revert migrations down to REVISION (default: one step)."""
    from walletsync.db import migrate

    _print_revision(migrate.downgrade(_migration_target(), revision))


@migrate_app.command("status")
def migrate_status() -> None:
    """Show the current revision and the pending ones."""
    from walletsync.db import migrate

    status = migrate.status(_migration_target())
    console.print(f"current:  {', '.join(status.current) or 'base (empty)'}")
    console.print(f"head:     {status.head}")
    if status.up_to_date:
        console.print("[green]up to date[/]")
    else:
        console.print(f"pending:  {', '.join(status.pending)}")


@migrate_app.command("check")
def migrate_check() -> None:
    """Fail if the models and the migrated schema differ (a migration is missing)."""
    from walletsync.db import migrate

    url = _migration_target()
    try:
        migrate.check(url)
    except Exception as exc:  # noqa: BLE001 - alembic raises its own error type with the diff
        err_console.print(f"error: schema and models differ: {exc}")
        raise typer.Exit(1) from None
    console.print("[green]schema matches models[/]")


@app.command("backup")
def backup_command(
    file: Annotated[Path, typer.Argument(help="Where to write the backup (pg_dump custom format).")],
) -> None:
    """Back up the walletsync database (DATABASE_URL or the embedded one) to FILE with pg_dump."""
    from walletsync.db.backup import backup
    from walletsync.runtime import prepare_database

    settings = load()
    target = prepare_database(settings, auto_migrate=False)
    # DATABASE_DIRECT_URL when set: pg_dump/pg_restore need a session, not PgBouncer's transaction pooling.
    result = backup(target.migration_url, file, console=console)
    console.print(
        f"backed up {target.describe(settings)} (revision {result.revision or 'none'}) to {result.path}: "
        f"{result.size_bytes / 1e6:.1f} MB in {result.seconds:.1f} s with {result.tool.describe()}",
        highlight=False,
        soft_wrap=True,
    )


@app.command("restore")
def restore_command(
    file: Annotated[Path, typer.Argument(help="A file made by `walletsync backup`.")],
    force: Annotated[
        bool, typer.Option("--force", help="Restore even while walletsync processes are connected.")
    ] = False,
) -> None:
    """Replace the database's content with FILE (pg_restore), then migrate it to the newest revision."""
    from walletsync.db.backup import inspect_archive, restore
    from walletsync.runtime import prepare_database

    settings = load()
    inspect_archive(file)  # a bad file fails before the embedded server starts
    target = prepare_database(settings, auto_migrate=False)
    result = restore(settings, target.migration_url, file, force=force, console=console)
    if result.forced_past:
        console.print(f"[yellow]restored while connected: {', '.join(result.forced_past)}[/]")
    console.print(
        f"restored {result.path} (revision {result.backup_revision}) into {target.describe(settings)} "
        f"in {result.seconds:.1f} s with {result.tool.describe()}; now at revision {result.revision}; "
        f"{result.cache}",
        highlight=False,
        soft_wrap=True,
    )


@app.command("inspect-tx")
def inspect_tx(
    chain: Annotated[Chain, typer.Option(help="Which provider's response the file holds.")],
    file: Annotated[Path, typer.Option(help="Raw response: Solana getTransaction, Cardano {tx, utxos}.")],
) -> None:
    """Normalize one raw provider response and print the transaction as JSON."""
    from walletsync.providers.inspect import inspect_file

    sys.stdout.write(json.dumps(inspect_file(chain, file), indent=2) + "\n")


# --- wallets, sync, balances, jobs, worker, serve ---------------------------------------------

wallets_app = typer.Typer(help="Add, list and remove tracked wallets.", no_args_is_help=True)
app.add_typer(wallets_app, name="wallets")
jobs_app = typer.Typer(help="Inspect and requeue background jobs.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")

ChainOption = Annotated[Chain, typer.Option("--chain", "-c", help="solana or cardano.")]
OptionalChain = Annotated[
    Chain | None, typer.Option("--chain", "-c", help="Narrow to one chain when the address is ambiguous.")
]


def _database(settings: Settings) -> str:
    from walletsync.runtime import prepare_database

    return prepare_database(settings).url


async def _with_db(settings: Settings, url: str, body: Callable[[Database], Awaitable[T]]) -> T:
    from walletsync.db.engine import Database

    db = Database.from_settings(url, settings, application_name="walletsync-cli")
    try:
        return await body(db)
    finally:
        await db.dispose()


@wallets_app.command("add")
def wallets_add(
    address: Annotated[str, typer.Argument(help="The wallet address.")],
    chain: ChainOption,
    label: Annotated[str | None, typer.Option(help="A name to show for it.")] = None,
    group: Annotated[str | None, typer.Option(help="A wallet group (e.g. a user) to total values over.")] = None,
    sync_now: Annotated[bool, typer.Option("--sync/--no-sync", help="Queue a sync job right away.")] = True,
) -> None:
    """Track a wallet (the address is validated for its chain)."""
    from walletsync.jobs.api import defer_sync
    from walletsync.wallets.repository import add_wallet

    settings = load()
    url = _database(settings)

    async def body(db: Database) -> tuple[WalletRow, int | None]:
        async with db.write() as conn:
            wallet = await add_wallet(conn, chain=chain, address=address, label=label, group=group)
            job_id = await defer_sync(conn, wallet.id) if sync_now else None
        return wallet, job_id

    wallet, job_id = run_async(_with_db(settings, url, body))
    queued = f"; sync job {job_id} queued" if job_id is not None else ""
    console.print(f"added wallet {wallet.id}: {wallet.chain.value} {wallet.address}{queued}")


@wallets_app.command("list")
def wallets_list(
    chain: OptionalChain = None,
    group: Annotated[str | None, typer.Option(help="Only this group.")] = None,
) -> None:
    """List tracked wallets with their sync status."""
    from walletsync.indexing.state import get_sync_state
    from walletsync.wallets.repository import list_wallets

    settings = load()
    url = _database(settings)

    async def body(db: Database) -> list[tuple[WalletRow, SyncStatus]]:
        rows: list[tuple[WalletRow, SyncStatus]] = []
        async with db.read() as conn:
            after: int | None = None
            while page := await list_wallets(conn, after_id=after, limit=500, chain=chain, group=group):
                for wallet in page:
                    rows.append((wallet, await get_sync_state(conn, wallet.id)))
                after = page[-1].id
        return rows

    rows = run_async(_with_db(settings, url, body))
    table = Table(title=f"{len(rows)} tracked wallet(s)")
    for column in ("id", "chain", "address", "label", "group", "sync", "txs", "last synced", "error"):
        table.add_column(column, overflow="fold")
    for wallet, status in rows:
        table.add_row(
            str(wallet.id),
            wallet.chain.value,
            wallet.address,
            wallet.label or "",
            wallet.group_name or "",
            status.status,
            str(status.tx_count),
            status.last_synced_at.isoformat(timespec="seconds") if status.last_synced_at else "never",
            status.error or "",
        )
    console.print(table)


@wallets_app.command("remove")
def wallets_remove(
    address: Annotated[str, typer.Argument(help="The wallet's address, label or id.")],
    chain: OptionalChain = None,
) -> None:
    """Stop tracking a wallet (its indexed balance changes are removed with it)."""
    from walletsync.wallets.repository import find_wallet, get_wallet, remove_wallet

    settings = load()
    url = _database(settings)

    async def body(db: Database) -> WalletRow:
        async with db.write() as conn:
            if address.isdigit():
                wallet = await get_wallet(conn, int(address))
            else:
                wallet = await find_wallet(conn, address, chain)
            await remove_wallet(conn, wallet.id)
        return wallet

    wallet = run_async(_with_db(settings, url, body))
    console.print(f"removed wallet {wallet.id}: {wallet.chain.value} {wallet.address}")


@app.command("sync")
def sync_command(
    address: Annotated[str, typer.Argument(help="A tracked wallet's address, label or id.")],
    chain: OptionalChain = None,
) -> None:
    """Sync one wallet now, in the foreground, with a progress bar."""
    from walletsync.commands import sync_in_foreground

    settings = load()
    tune_gc_for_throughput()
    url = _database(settings)
    report = run_async(sync_in_foreground(settings, url, address, chain, console=console))
    console.print(
        f"wallet {report.wallet_id}: {report.new_transactions} new transaction(s) "
        f"({report.seen_transactions} listed) in {report.seconds:.2f}s"
    )


@app.command("balances")
def balances_command(
    address: Annotated[str, typer.Argument(help="A tracked wallet's address, label or id.")],
    chain: OptionalChain = None,
    at: Annotated[
        datetime | None, typer.Option(help="Balances as of this time (ISO 8601, UTC if no offset).")
    ] = None,
) -> None:
    """Print a wallet's balances computed from its indexed history."""
    from walletsync.commands import wallet_balances_for

    settings = load()
    url = _database(settings)
    when = at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at
    wallet, balances = run_async(wallet_balances_for(settings, url, address, chain, at=when))
    console.print(balances_table(wallet, balances, at=when))


def balances_table(wallet: WalletRow, balances: Sequence[Balance], *, at: datetime | None = None) -> Table:
    when = f" at {at.isoformat()}" if at else ""
    table = Table(title=f"{wallet.chain.value} {wallet.address}{when}")
    table.add_column("asset", overflow="fold")
    table.add_column("symbol")
    table.add_column("amount", justify="right")
    table.add_column("base units", justify="right")
    for balance in balances:
        table.add_row(balance.asset_key, balance.symbol or "?", balance.formatted(), str(balance.amount))
    if not balances:
        table.add_row("(no balances)", "", "", "")
    return table


@app.command("worker")
def worker_command(
    concurrency: Annotated[
        int | None, typer.Option(min=1, max=256, help="Jobs run at once (default WORKER_CONCURRENCY).")
    ] = None,
    queue: Annotated[list[str] | None, typer.Option(help="Only these queues (sync, market, maintenance).")] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(min=1, max=65535, help="Serve Prometheus /metrics (provider calls) on this port."),
    ] = None,
    metrics_host: Annotated[str, typer.Option(help="Interface for --metrics-port.")] = "127.0.0.1",
) -> None:
    """Run a job worker (several may run at once, in any number of processes)."""
    from walletsync.jobs.worker import run_worker
    from walletsync.services import open_services

    settings = load(interactive=False)
    tune_gc_for_throughput()
    url = _database(settings)
    if metrics_port is not None:
        # Provider metrics (requests, retries, breaker states) live in the process making the calls;
        # the API's /metrics cannot see a worker's. prometheus_client serves them from a daemon thread.
        from prometheus_client import start_http_server

        start_http_server(metrics_port, addr=metrics_host)

    async def body() -> None:
        async with open_services(settings, url, application_name="walletsync-worker") as services:
            await run_worker(services, concurrency=concurrency or settings.worker_concurrency, queues=queue)

    run_async(body())


@jobs_app.command("list")
def jobs_list(
    status: Annotated[str | None, typer.Option(help="todo, doing, succeeded, failed, cancelled, aborted.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """List recent jobs, newest first."""
    _print_jobs(status, limit)


@jobs_app.command("failed")
def jobs_failed(limit: Annotated[int, typer.Option(min=1, max=1000)] = 50) -> None:
    """List failed jobs with their last error (the dead-letter list)."""
    _print_jobs("failed", limit)


def _print_jobs(status: str | None, limit: int) -> None:
    from walletsync.jobs.api import list_jobs

    settings = load()
    url = _database(settings)

    async def body(db: Database) -> list[JobInfo]:
        async with db.read() as conn:
            return await list_jobs(conn, status=status, limit=limit)

    jobs = run_async(_with_db(settings, url, body))
    table = Table(title=f"{len(jobs)} job(s)" + (f" with status {status}" if status else ""))
    for column in ("id", "task", "status", "attempts", "args", "scheduled", "last error"):
        table.add_column(column, overflow="fold")
    for job in jobs:
        table.add_row(
            str(job.id),
            job.task_name,
            job.status,
            str(job.attempts),
            json.dumps(job.args, sort_keys=True),
            job.scheduled_at.isoformat(timespec="seconds") if job.scheduled_at else "",
            job.last_error or "",
        )
    console.print(table)


@jobs_app.command("retry")
def jobs_retry(job_id: Annotated[int, typer.Argument(help="The failed job's id.")]) -> None:
    """Requeue one failed job (it gets a fresh set of attempts)."""
    from walletsync.jobs.api import retry_job

    settings = load()
    url = _database(settings)
    job = run_async(_with_db(settings, url, lambda db: retry_job(db, job_id)))
    console.print(f"job {job.id} ({job.task_name}) requeued: {job.status}")


@jobs_app.command("retry-failed")
def jobs_retry_failed(
    task: Annotated[str | None, typer.Option(help="Only jobs of this task (e.g. sync_wallet).")] = None,
) -> None:
    """Requeue every failed job."""
    from walletsync.jobs.api import retry_failed

    settings = load()
    url = _database(settings)
    ids = run_async(_with_db(settings, url, lambda db: retry_failed(db, task_name=task)))
    console.print(f"requeued {len(ids)} job(s)" + (f": {', '.join(map(str, ids))}" if ids else ""))


@app.command("serve")
def serve_command(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    concurrency: Annotated[int | None, typer.Option(min=1, max=256, help="Worker jobs at once.")] = None,
) -> None:
    """Run the API, a job worker and the scheduler in one process (for small installs)."""
    from walletsync.commands import serve_all

    settings = load(interactive=False)
    tune_gc_for_throughput()
    url = _database(settings)
    run_async(serve_all(settings, url, host=host, port=port, concurrency=concurrency or settings.worker_concurrency))


@app.command("demo")
def demo_command(
    exit_after_sync: Annotated[
        bool, typer.Option("--exit-after-sync", help="Exit 0 after printing balances instead of serving.")
    ] = False,
    seed: Annotated[int, typer.Option(help="Simulator seed (same seed, same demo ledger).")] = 7,
    host: Annotated[str, typer.Option(help="API interface when serving.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="API port when serving.")] = 8000,
) -> None:
    """Start everything locally (embedded database, simulator), sync demo wallets, print balances, serve."""
    from walletsync.demo import run_demo

    settings = load()
    tune_gc_for_throughput()
    code = run_demo(settings, console=console, exit_after_sync=exit_after_sync, seed=seed, host=host, port=port)
    raise typer.Exit(code)


apikeys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
app.add_typer(apikeys_app, name="apikeys")


@app.command("api")
def api_command(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
) -> None:
    """Run the REST API alone (run workers separately with `walletsync worker`)."""
    from walletsync.api.server import run_api

    settings = load(interactive=False)
    run_api(settings, _database(settings), host=host, port=port)


@apikeys_app.command("create")
def apikeys_create(
    name: Annotated[str, typer.Argument(help="Who or what the key is for.")],
    scope: Annotated[str, typer.Option(help="read, write (implies read) or admin (implies both).")] = "read",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the key.")] = False,
) -> None:
    """Create an API key. The key is printed once and stored only as a hash."""
    from walletsync.api.keys import create_key

    settings = load()
    url = _database(settings)

    async def body(db: Database) -> Any:
        async with db.write() as conn:
            return await create_key(conn, name=name, scope=scope)

    created = run_async(_with_db(settings, url, body))
    if quiet:
        typer.echo(created.key)  # plain stdout for scripts: KEY=$(walletsync apikeys create NAME -q)
        return
    console.print(f"API key {created.info.id} ({created.info.name}, scope {created.info.scope.value}):")
    console.print(created.key, highlight=False, soft_wrap=True)
    console.print("[yellow]Store it now: it cannot be shown again.[/]")


@apikeys_app.command("list")
def apikeys_list() -> None:
    """List API keys (prefix, scope, created, revoked); never the keys themselves."""
    from walletsync.api.keys import list_keys

    settings = load()
    url = _database(settings)

    async def body(db: Database) -> Any:
        async with db.read() as conn:
            return await list_keys(conn)

    keys = run_async(_with_db(settings, url, body))
    table = Table(title=f"{len(keys)} API key(s)")
    for column in ("id", "name", "prefix", "scope", "created", "revoked"):
        table.add_column(column)
    for key in keys:
        table.add_row(
            str(key.id),
            key.name,
            key.key_prefix + "…",
            key.scope.value,
            key.created_at.isoformat(timespec="seconds"),
            key.revoked_at.isoformat(timespec="seconds") if key.revoked_at else "",
        )
    console.print(table)


@apikeys_app.command("revoke")
def apikeys_revoke(key_id: Annotated[int, typer.Argument(help="The key's id (see `apikeys list`).")]) -> None:
    """Revoke an API key (API processes stop accepting it within a few seconds)."""
    from walletsync.api.keys import MEMO_TTL_S, revoke_key

    settings = load()
    url = _database(settings)

    async def body(db: Database) -> Any:
        async with db.write() as conn:
            return await revoke_key(conn, key_id)

    info = run_async(_with_db(settings, url, body))
    console.print(
        f"API key {info.id} ({info.name}) revoked; running APIs refuse it within {MEMO_TTL_S:.0f} s"
    )


@app.command("simulator")
def simulator_command(
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0: a free one).")] = 8899,
    seed: Annotated[int, typer.Option(help="Ledger seed (same seed, same ledger).")] = 42,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    latency_ms: Annotated[str | None, typer.Option(help="Added latency: N or MIN:MAX (ms).")] = None,
    fail_rate: Annotated[float, typer.Option(min=0, max=1, help="Share of 5xx responses.")] = 0.0,
    timeout_rate: Annotated[float, typer.Option(min=0, max=1, help="Share of responses that hang.")] = 0.0,
    malformed_rate: Annotated[float, typer.Option(min=0, max=1, help="Share of broken 200 bodies.")] = 0.0,
    rate_limit: Annotated[
        list[str] | None, typer.Option(help="PROVIDER=RATE[:BURST] token bucket; repeatable.")
    ] = None,
    solana_wallets: Annotated[int, typer.Option(min=0, max=1000)] = 3,
    cardano_wallets: Annotated[int, typer.Option(min=0, max=1000)] = 3,
) -> None:
    """Serve the bundled Solana RPC / Blockfrost / Twelve Data simulator with optional faults."""
    from walletsync.simulator import command

    try:
        faults = command.fault_config(
            latency_ms=latency_ms,
            fail_rate=fail_rate,
            timeout_rate=timeout_rate,
            malformed_rate=malformed_rate,
            rate_limits=rate_limit or [],
            seed=seed,
        )
    except command.OptionError as exc:
        err_console.print(f"error: {exc}")
        raise typer.Exit(2) from None
    command.serve(
        console,
        host=host,
        port=port,
        seed=seed,
        solana_wallets=solana_wallets,
        cardano_wallets=cardano_wallets,
        faults=faults,
    )


prices_app = typer.Typer(
    help="Market data: sync prices from Twelve Data, show stored bars.", no_args_is_help=True
)
app.add_typer(prices_app, name="prices")


@prices_app.command("sync")
def prices_sync(
    catalogs: Annotated[
        bool | None,
        typer.Option(
            "--catalogs/--no-catalogs", help="Refresh exchange and instrument catalogs (default: when due)."
        ),
    ] = None,
) -> None:
    """Ingest catalogs and bring PRICE_SYMBOLS' candles up to date, within the daily credit budget."""
    from walletsync.market.console import report_table, run_price_sync
    from walletsync.market.errors import PriceSyncError

    settings = load()
    url = _database(settings)
    try:
        report = run_async(run_price_sync(settings, url, console=console, catalogs=catalogs))
    except PriceSyncError as exc:
        console.print(report_table(exc.report))
        raise
    console.print(report_table(report))


@prices_app.command("show")
def prices_show(
    symbol: Annotated[str, typer.Argument(help="An instrument, e.g. SOL/USD.")],
    interval: Annotated[str, typer.Option(help="Bar interval (1h, 1day, ...).")] = "1h",
    limit: Annotated[int, typer.Option(min=1, max=5000, help="How many of the latest bars.")] = 24,
    daily: Annotated[
        bool, typer.Option("--daily", help="Daily closes from candles_daily_close instead.")
    ] = False,
) -> None:
    """Print the latest stored bars of SYMBOL (oldest first), and today's credit usage."""
    from walletsync.market.console import bars_table, credit_usage, daily_table, load_bars, load_daily_closes

    settings = load()
    url = _database(settings)

    async def body(db: Database) -> None:
        if daily:
            instrument, closes = await load_daily_closes(db, symbol, limit=limit)
            console.print(daily_table(instrument, closes))
        else:
            instrument, rows = await load_bars(db, symbol, interval=interval, limit=limit)
            console.print(bars_table(instrument, rows, interval))
        console.print(await credit_usage(settings, db), style="dim")

    run_async(_with_db(settings, url, body))


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion (commands are sync; the work is async)."""
    return asyncio.run(coro)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except WalletsyncError as exc:
        err_console.print(f"error: {exc.detail}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
