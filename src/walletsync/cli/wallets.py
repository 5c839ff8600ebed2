"""Wallet commands: `wallets add|list|remove`, and the per-wallet `sync` and `balances`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from walletsync.cli.common import (
    ChainOption,
    OptionalChain,
    YesOption,
    command_group,
    confirm,
    console,
    database_url,
    load,
    run_async,
    with_db,
)
from walletsync.cli.text import plain

if TYPE_CHECKING:
    from walletsync.db.engine import Database
    from walletsync.indexing.state import SyncStatus
    from walletsync.portfolio.balances import Balance
    from walletsync.wallets.repository import WalletRow

wallets_app = command_group("Add, list and remove tracked wallets.")


@wallets_app.command("add")
def wallets_add(
    address: Annotated[str, typer.Argument(help="The wallet address.")],
    chain: ChainOption,
    label: Annotated[str | None, typer.Option(help="A name to show for it.")] = None,
    group: Annotated[
        str | None, typer.Option(help="A wallet group (e.g. a user) to total values over.")
    ] = None,
    sync_now: Annotated[bool, typer.Option("--sync/--no-sync", help="Queue a sync job right away.")] = True,
) -> None:
    """Track a wallet (the address is validated for its chain)."""
    from walletsync.jobs.api import defer_sync
    from walletsync.wallets.repository import add_wallet

    settings = load()
    url = database_url(settings)

    async def body(db: Database) -> tuple[WalletRow, int | None]:
        async with db.write() as conn:
            wallet = await add_wallet(
                conn,
                chain=chain,
                address=address,
                label=label,
                group=group,
                cardano_network=settings.cardano_network,
            )
            job_id = await defer_sync(conn, wallet.id) if sync_now else None
        return wallet, job_id

    wallet, job_id = run_async(with_db(settings, url, body))
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
    url = database_url(settings)

    async def body(db: Database) -> list[tuple[WalletRow, SyncStatus]]:
        rows: list[tuple[WalletRow, SyncStatus]] = []
        async with db.read() as conn:
            after: int | None = None
            while page := await list_wallets(conn, after_id=after, limit=500, chain=chain, group=group):
                for wallet in page:
                    rows.append((wallet, await get_sync_state(conn, wallet.id)))
                after = page[-1].id
        return rows

    rows = run_async(with_db(settings, url, body))
    table = Table(title=f"{len(rows)} tracked wallet(s)")
    for column in ("id", "chain", "address", "label", "group", "sync", "txs", "last synced", "error"):
        table.add_column(column, overflow="fold")
    for wallet, status in rows:
        table.add_row(
            str(wallet.id),
            wallet.chain.value,
            wallet.address,
            plain(wallet.label or ""),  # chosen by users: printed literally, never as markup
            plain(wallet.group_name or ""),
            status.status,
            str(status.tx_count),
            status.last_synced_at.isoformat(timespec="seconds") if status.last_synced_at else "never",
            plain(status.error or ""),
        )
    console.print(table)


@wallets_app.command("remove")
def wallets_remove(
    address: Annotated[str, typer.Argument(help="The wallet's address, label or id.")],
    chain: OptionalChain = None,
    yes: YesOption = False,
) -> None:
    """Stop tracking a wallet (its indexed balance changes are removed with it)."""
    from walletsync.cache import setup_cache, teardown_cache
    from walletsync.commands import resolve_wallet
    from walletsync.wallets.repository import remove_wallet

    settings = load()
    url = database_url(settings)

    async def find(db: Database) -> WalletRow:
        return await resolve_wallet(db, address, chain)

    async def remove(db: Database) -> None:
        async with db.write() as conn:
            await remove_wallet(conn, wallet.id)
        # Running APIs must not keep serving it from their cache until the TTL: the same invalidation
        # the API's DELETE uses (through Redis, which also reaches their in-process copies).
        layer = setup_cache(settings)
        try:
            await layer.invalidate_wallet(wallet.id)
        finally:
            await teardown_cache(layer)

    wallet = run_async(with_db(settings, url, find))
    confirm(
        f"Stop tracking wallet {wallet.id} ({wallet.chain.value} {wallet.address}) and delete its indexed history?",
        yes=yes,
    )
    run_async(with_db(settings, url, remove))
    console.print(f"removed wallet {wallet.id}: {wallet.chain.value} {wallet.address}")


def sync_command(
    address: Annotated[str, typer.Argument(help="A tracked wallet's address, label or id.")],
    chain: OptionalChain = None,
) -> None:
    """Sync one wallet now, in the foreground, with a progress bar."""
    from walletsync.commands import sync_in_foreground
    from walletsync.runtime import tune_gc_for_throughput

    settings = load()
    tune_gc_for_throughput()
    url = database_url(settings, redis=True)
    report = run_async(sync_in_foreground(settings, url, address, chain, console=console))
    console.print(
        f"wallet {report.wallet_id}: {report.new_transactions} new transaction(s) "
        f"({report.seen_transactions} listed) in {report.seconds:.2f}s"
    )


def balances_command(
    address: Annotated[str, typer.Argument(help="A tracked wallet's address, label or id.")],
    chain: OptionalChain = None,
    at: Annotated[
        datetime | None, typer.Option(help="Balances as of this time (ISO 8601, UTC if no offset).")
    ] = None,
) -> None:
    """Print a wallet's balances computed from its indexed history, and its native staking (staked
    Solana stake accounts, unwithdrawn Cardano rewards) as of its last sync."""
    from walletsync.commands import wallet_balances_for

    settings = load()
    url = database_url(settings)
    when = at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at
    wallet, balances = run_async(wallet_balances_for(settings, url, address, chain, at=when))
    console.print(balances_table(wallet, balances, at=when))


def balances_table(wallet: WalletRow, balances: Sequence[Balance], *, at: datetime | None = None) -> Table:
    when = f" at {at.isoformat()}" if at else ""
    table = Table(title=f"{wallet.chain.value} {wallet.address}{when}")
    table.add_column("asset", overflow="fold")
    table.add_column("symbol")
    # liquid, or native staking: staked (Solana stake accounts), rewards (unwithdrawn, Cardano)
    table.add_column("kind")
    table.add_column("amount", justify="right")
    table.add_column("base units", justify="right")
    for balance in balances:
        # Token keys and symbols come from the chain: anyone can name a token `[red]` or `\x1b[2J`.
        table.add_row(
            plain(balance.asset_key),
            plain(balance.symbol or "?"),
            balance.kind,
            balance.formatted(),
            str(balance.amount),
        )
    if not balances:
        table.add_row("(no balances)", "", "", "", "")
    return table
