"""`walletsync demo`: the whole stack on one machine, with nothing installed or configured.

With no provider URLs it starts the bundled simulator (a deterministic ledger from `--seed`); with no
`DATABASE_URL` the embedded PostgreSQL. It tracks a few wallets on both chains (group `demo`), syncs
them with progress bars, forks the simulated Cardano chain over their recent transactions and
catches up (the rollback is retracted), checks every balance against what the provider itself reports
(staked and rewards lines against the simulator ledger's own stake accounts and reward histories), ingests
prices, prints values and the leaderboard, then serves the API and a worker until Ctrl-C.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from walletsync.commands import serve_services, sync_progress, sync_with_progress
from walletsync.config import Chain, Settings
from walletsync.db.models import wallets as wallets_table
from walletsync.errors import InvalidInputError
from walletsync.events.demo import stream_hints
from walletsync.indexing.staking import read_staking
from walletsync.portfolio.balances import LIQUID, Balance, wallet_balances
from walletsync.providers.types import NATIVE
from walletsync.runtime import prepare_database
from walletsync.services import Services, open_services
from walletsync.signals import run_until_signalled
from walletsync.wallets.repository import WalletExistsError, WalletRow, add_wallet, find_wallet

if TYPE_CHECKING:
    from walletsync.simulator.server import SimulatorServer

DEMO_GROUP = "demo"
DEMO_KEY_NAME = "demo"
WALLETS_PER_CHAIN = 3
# The simulator is local and enforces no limit unless told to: let the demo go fast.
SIMULATOR_LIMITS = {
    "solana_rate": 2000.0,
    "solana_burst": 2000,
    "blockfrost_rate": 2000.0,
    "blockfrost_burst": 2000,
    "twelvedata_rate_per_min": 6000.0,
    # Everything runs on this machine: let webhooks reach a receiver on 127.0.0.1 (docs/events.md).
    "webhook_allow_private": True,
    # The demo forks the simulated chain over its wallets' newest transactions, which lie further
    # below the simulator's tip than any real rollback reaches: re-check that deep.
    "cardano_rollback_window": 100_000,
}


StakingTruth = Callable[[Chain, str], dict[tuple[str, str], int]]
"""The simulator ledger's own staking lines of a wallet: (kind, source) -> base units."""


@dataclass(frozen=True, slots=True)
class Check:
    wallet: WalletRow
    balances: list[Balance]
    mismatches: dict[str, tuple[int, int]]  # asset -> (indexed, provider)


def run_demo(
    settings: Settings, *, console: Console, exit_after_sync: bool, seed: int, host: str, port: int
) -> int:
    """Run the demo; the exit code is 0 when every balance matched the provider, else 1."""
    simulator: SimulatorServer | None = None
    if settings.uses_simulator:
        from walletsync.simulator.ledger import Ledger
        from walletsync.simulator.server import SimulatorServer

        console.print(f"[bold]simulator[/]: starting the bundled provider simulator (seed {seed})")
        simulator = SimulatorServer(
            Ledger(seed, solana_wallets=WALLETS_PER_CHAIN, cardano_wallets=WALLETS_PER_CHAIN)
        )
        simulator.start()
        settings = settings.model_copy(
            update={
                "solana_rpc_urls": [simulator.url("solana")],
                "blockfrost_urls": [simulator.url("blockfrost")],
                "twelvedata_urls": [simulator.url("twelvedata")],
                **SIMULATOR_LIMITS,
            }
        )
    try:
        target = prepare_database(settings)
        console.print(f"[bold]database[/]: {target.describe(settings)}")
        addresses = _demo_addresses(simulator)
        return run_until_signalled(
            _demo(
                settings,
                target.url,
                addresses,
                console=console,
                serve=not exit_after_sync,
                host=host,
                port=port,
                reorg=_demo_reorg(simulator, addresses, settings) if simulator is not None else None,
                staking_truth=simulator.ledger.staking
                if simulator is not None and simulator.ledger
                else None,
            )
        )
    finally:
        if simulator is not None:
            simulator.stop()


def _demo_addresses(simulator: SimulatorServer | None) -> list[tuple[Chain, str]]:
    if simulator is None or simulator.ledger is None:
        return []
    ledger = simulator.ledger
    return [(chain, address) for chain in Chain for address in ledger.wallets(chain)[:WALLETS_PER_CHAIN]]


def _demo_reorg(
    simulator: SimulatorServer, addresses: list[tuple[Chain, str]], settings: Settings
) -> Callable[[], str]:
    """A fork of the simulated Cardano chain over the demo wallets' recent transactions (those the
    rollback check covers), dropping about half of them: what a sync must then retract."""

    def fork() -> str:
        assert simulator.ledger is not None
        ada = simulator.ledger.cardano
        heights = sorted(
            ada.txs[ada.hash_index[tx_id]].height
            for chain, address in addresses
            if chain is Chain.CARDANO
            for tx_id in simulator.ledger.wallet_tx_ids(chain, address)
        )
        # The blocks of the wallets' four newest transactions (all within the rollback window).
        newest = [h for h in heights[-4:] if h > ada.tip_height - settings.cardano_rollback_window]
        depth = ada.tip_height - min(newest, default=ada.tip_height) + 1
        done = simulator.reorg(depth, drop=0.5, seed=1)
        return (
            f"the simulator replaced the last {depth} Cardano blocks: {len(done['dropped'])} "
            f"transaction(s) dropped, {len(done['reincluded'])} re-included in new blocks"
        )

    return fork


async def _demo(
    settings: Settings,
    url: str,
    addresses: list[tuple[Chain, str]],
    *,
    console: Console,
    serve: bool,
    host: str,
    port: int,
    reorg: Callable[[], str] | None = None,
    staking_truth: StakingTruth | None = None,
) -> int:
    async with open_services(settings, url, application_name="walletsync-demo") as services:
        await _refuse_another_seed(services, addresses)
        wallets = await _track(services, addresses)
        if not wallets:
            console.print(
                "no demo wallets: provider URLs are set, so add wallets with `walletsync wallets add`"
            )
        with sync_progress(console) as progress:
            await asyncio.gather(*(sync_with_progress(services, wallet, progress) for wallet in wallets))
        if reorg is not None and any(w.chain is Chain.CARDANO for w in wallets):
            # A chain reorganisation lands after the first pass: the catch-up sync retracts what
            # was rolled back (tx.rolled_back) and indexes what the winning fork re-included.
            console.print(f"[bold]reorg[/]: {reorg()}; catching up")
            cardano = [w for w in wallets if w.chain is Chain.CARDANO]
            with sync_progress(console) as progress:
                await asyncio.gather(*(sync_with_progress(services, wallet, progress) for wallet in cardano))
        checks = [await _check(services, wallet, staking_truth) for wallet in wallets]
        for check in checks:
            console.print(_balances_table(check))
        mismatched = [c for c in checks if c.mismatches]
        if mismatched:
            console.print(f"[red]{len(mismatched)} wallet(s) do not match the provider's balances[/]")
        else:
            console.print(f"[green]all {len(checks)} wallets match the provider's balances exactly[/]")
        await _prices_and_values(services, wallets, console=console)
        if serve:
            for line in await stream_hints(services.db, host=host, port=port):
                console.print(line, highlight=False, soft_wrap=True)
            console.print(
                f"[bold]serving[/] the API on http://{host}:{port} (docs at /docs) with a worker; Ctrl-C stops"
            )
            await _print_api_access(
                services, host=host, port=port, wallet=wallets[0] if wallets else None, console=console
            )
            await serve_services(
                services, host=host, port=port, concurrency=settings.worker_concurrency, console=console
            )
        return 1 if mismatched else 0


class DemoSeedError(InvalidInputError):
    """The database holds the demo of another seed: running this one would add a second set of wallets
    and overwrite the first run's candles with other prices."""


async def _refuse_another_seed(services: Services, addresses: list[tuple[Chain, str]]) -> None:
    if not addresses:
        return
    async with services.db.read() as conn:
        tracked = {
            (Chain(chain), address)
            for chain, address in (
                await conn.execute(
                    select(wallets_table.c.chain, wallets_table.c.address).where(
                        wallets_table.c.group_name == DEMO_GROUP
                    )
                )
            ).all()
        }
    if tracked and not tracked & set(addresses):
        raise DemoSeedError(
            "this database already holds the demo of another --seed (its wallets and prices would be mixed "
            "with this one's): run `walletsync demo` with the seed you used first (default 7), or point "
            "WALLETSYNC_DATA_DIR at a new directory"
        )


async def _print_api_access(
    services: Services, *, host: str, port: int, wallet: WalletRow | None, console: Console
) -> None:
    """How to call the API being served: a read key made for this run (earlier demo keys revoked)."""
    from walletsync.api.keys import create_key, list_keys, revoke_key

    if services.settings.public_reads:
        console.print(
            f"reads need no key (WALLETSYNC_PUBLIC_READS=true): curl http://{host}:{port}/v1/wallets"
        )
        return
    async with services.db.write() as conn:
        for key in await list_keys(conn, include_revoked=False):
            if key.name == DEMO_KEY_NAME:
                await revoke_key(conn, key.id)
        created = await create_key(conn, name=DEMO_KEY_NAME, scope="read")
    path = f"/v1/wallets/{wallet.id}/balances" if wallet is not None else "/v1/wallets"
    console.print(
        f"[bold]read API key[/] for this demo (revoked when the demo runs again): {created.key}",
        soft_wrap=True,
    )
    console.print(
        f"  curl -H 'Authorization: Bearer {created.key}' http://{host}:{port}{path}",
        highlight=False,
        soft_wrap=True,
    )
    console.print("  more keys: walletsync apikeys create NAME --scope read|write|admin", highlight=False)


async def _track(services: Services, addresses: list[tuple[Chain, str]]) -> list[WalletRow]:
    wallets: list[WalletRow] = []
    numbers: Counter[Chain] = Counter()
    for chain, address in addresses:
        numbers[chain] += 1
        number = numbers[chain]
        async with services.db.write() as conn:
            try:
                wallet = await add_wallet(
                    conn, chain=chain, address=address, label=f"demo-{chain.value}-{number}", group=DEMO_GROUP
                )
            except WalletExistsError:
                wallet = await find_wallet(conn, address, chain)
        wallets.append(wallet)
    return wallets


def _line(asset_key: str, kind: str) -> str:
    return asset_key if kind == LIQUID else f"{asset_key} ({kind})"


async def _check(services: Services, wallet: WalletRow, staking_truth: StakingTruth | None = None) -> Check:
    """Indexed balances against the provider's own current balances for the wallet; staking lines
    against the simulator ledger's own accounts when the demo runs on it (else the provider's)."""
    async with services.db.read() as conn:
        balances = await wallet_balances(conn, wallet.id)
    provider: Counter[str] = Counter()
    if wallet.chain is Chain.SOLANA:
        adapter = services.adapters.solana
        assert adapter is not None
        provider["native"] = await adapter.balance(wallet.address)
        for account in await adapter.token_accounts(wallet.address):
            provider[account.mint] += account.amount
    else:
        cardano = services.adapters.cardano
        assert cardano is not None
        for held in await cardano.address_amounts(wallet.address):
            provider[held.asset] += held.amount
    if staking_truth is not None:
        lines = [(kind, amount) for (kind, _), amount in staking_truth(wallet.chain, wallet.address).items()]
    else:
        found = await read_staking(
            wallet.chain, wallet.address, solana=services.adapters.solana, cardano=services.adapters.cardano
        )
        lines = [(p.kind, p.amount) for p in found]
    for kind, amount in lines:
        provider[_line(NATIVE, kind)] += amount
    indexed = {_line(b.asset_key, b.kind): b.amount for b in balances}
    assets = set(indexed) | {k for k, v in provider.items() if v}
    mismatches = {
        asset: (indexed.get(asset, 0), provider.get(asset, 0))
        for asset in assets
        if indexed.get(asset, 0) != provider.get(asset, 0)
    }
    return Check(wallet=wallet, balances=balances, mismatches=mismatches)


def _balances_table(check: Check) -> Table:
    wallet = check.wallet
    status = "[red]MISMATCH[/]" if check.mismatches else "[green]matches provider[/]"
    # The status leads, the (long) address goes below: a narrow terminal wraps neither mid-status.
    table = Table(
        title=f"{wallet.label or wallet.id}: {wallet.chain.value} — {status}", caption=wallet.address
    )
    table.add_column("asset", overflow="fold")
    table.add_column("kind")
    table.add_column("symbol")
    table.add_column("amount", justify="right")
    table.add_column("base units", justify="right")
    for balance in check.balances:
        table.add_row(
            balance.asset_key, balance.kind, balance.symbol or "?", balance.formatted(), str(balance.amount)
        )
    for asset, (indexed, provider) in sorted(check.mismatches.items()):
        table.add_row(asset, "", "[red]provider[/]", "", f"{provider} (indexed {indexed})")
    return table


async def _prices_and_values(services: Services, wallets: list[WalletRow], *, console: Console) -> None:
    from walletsync.portfolio.console import leaderboard_table, wallet_values_table
    from walletsync.portfolio.leaderboard import leaderboard
    from walletsync.portfolio.valuation import wallet_value

    if services.twelvedata is None:
        console.print("no Twelve Data endpoint configured: skipping prices and values")
        return
    with console.status("ingesting prices (catalogs and candles)…"):
        report = await services.sync_prices()
    console.print(
        f"[bold]prices[/]: {report.get('candles_written', 0)} candle(s) written, "
        f"{report.get('credits_used', 0)} credit(s) used"
    )
    quote = services.settings.quote_currency
    async with services.db.read() as conn:
        values = [await wallet_value(conn, wallet.id, quote=quote) for wallet in wallets]
        board = await leaderboard(conn, kind="value", limit=5, quote=quote)
    console.print(wallet_values_table(values))
    console.print(leaderboard_table(board))
