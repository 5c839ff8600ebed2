"""Native staking (issue 11 item 9): Solana stake accounts and Cardano unwithdrawn rewards are balance
lines of their own kind, count in the wallet's value, and follow the chain from sync to sync.

The simulator serves `getProgramAccounts` (stake program, memcmp filters) and Blockfrost
`/accounts/{stake}` over real HTTP; the expected amounts come from the ledger's own histories
(deposits plus each epoch's reward; rewards earned minus withdrawn), prices are hand-written.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from walletsync.config import Chain
from walletsync.db.engine import Database
from walletsync.db.models import asset_prices, assets, candles, instruments, staking_balances, sync_state
from walletsync.indexing.staking import native_asset_id, replace_staking
from walletsync.indexing.store import AssetIds
from walletsync.indexing.sync import sync_wallet
from walletsync.portfolio.balances import Balance, wallet_balances
from walletsync.portfolio.leaderboard import leaderboard
from walletsync.portfolio.series import wallet_value_series
from walletsync.portfolio.valuation import group_value, wallet_value
from walletsync.providers.errors import ProviderError
from walletsync.providers.staking import StakePosition
from walletsync.services import Services, open_services
from walletsync.simulator.ledger import Ledger
from walletsync.simulator.server import SimulatorServer
from walletsync.wallets.repository import WalletRow, add_wallet

from .conftest import simulator_settings

SOL_PRICE = Decimal("150.25")


@pytest.fixture
def ledger() -> Ledger:
    """Its own world (tests close accounts and withdraw rewards): Solana wallet 0 stakes two accounts
    (one as staker only), wallet 1 withdraws one; Cardano wallets 0 and 1 have unwithdrawn rewards."""
    return Ledger(23, solana_wallets=2, cardano_wallets=2)


@pytest.fixture
def simulator(ledger: Ledger) -> Iterator[SimulatorServer]:
    with SimulatorServer(ledger) as server:
        yield server


@pytest.fixture
async def services(
    db: object, database_url: str, simulator: SimulatorServer, tmp_path: Path
) -> AsyncIterator[Services]:
    settings = simulator_settings(database_url, simulator, tmp_path / "data")
    async with open_services(settings, database_url) as opened:
        yield opened


async def _wallet(services: Services, chain: Chain, address: str) -> WalletRow:
    async with services.db.write() as conn:
        return await add_wallet(conn, chain=chain, address=address)


async def _sync(services: Services, wallet: WalletRow) -> None:
    await sync_wallet(services.db, wallet.id, adapters=services.adapters, settings=services.settings)


async def _snapshot(db: Database, wallet_id: int) -> dict[tuple[str, str], int]:
    async with db.read() as conn:
        rows = await conn.execute(
            select(staking_balances.c.kind, staking_balances.c.source, staking_balances.c.amount).where(
                staking_balances.c.wallet_id == wallet_id
            )
        )
        return {(r.kind, r.source): int(r.amount) for r in rows}


async def _lines(db: Database, wallet_id: int) -> dict[tuple[str, str], int]:
    async with db.read() as conn:
        return {(b.asset_key, b.kind): b.amount for b in await wallet_balances(conn, wallet_id)}


async def test_solana_stake_accounts_are_staked_lines_and_count_in_value(
    services: Services, ledger: Ledger
) -> None:
    address = ledger.solana_wallets[0]
    expected = ledger.staking(Chain.SOLANA, address)
    assert len(expected) == 2  # its own account and one it stakes for a custodian
    async with services.db.write() as conn:
        wallet = await add_wallet(conn, chain=Chain.SOLANA, address=address, group="stakers")
    before_sync = datetime.now(UTC)
    await _sync(services, wallet)

    assert await _snapshot(services.db, wallet.id) == expected
    lines = await _lines(services.db, wallet.id)
    liquid = ledger.solana_lamports(address)
    staked = sum(expected.values())
    assert lines[("native", "liquid")] == liquid
    assert lines[("native", "staked")] == staked
    assert ("native", "rewards") not in lines  # Solana rewards compound into the stake account
    async with services.db.read() as conn:
        earlier = await wallet_balances(conn, wallet.id, at=before_sync)
    # A snapshot has no past: before it was observed, only the liquid history counts.
    assert [(b.asset_key, b.kind, b.amount) for b in earlier if b.asset_key == "native"] == [
        ("native", "liquid", liquid)
    ]

    # Hand-written price: one SOL/USD daily bar that ended two days ago closed at 150.25.
    now = datetime.now(UTC)
    async with services.db.write() as conn:
        sol = await conn.scalar(
            select(assets.c.id).where(assets.c.chain == "solana", assets.c.asset_key == "native")
        )
        instrument = await conn.scalar(
            insert(instruments)
            .values(kind="crypto", symbol="SOL/USD", currency_base="SOL", currency_quote="USD")
            .returning(instruments.c.id)
        )
        await conn.execute(insert(asset_prices).values(asset_id=sol, instrument_id=instrument))
        for ts in (now - timedelta(days=3), now - timedelta(hours=12)):
            await conn.execute(
                insert(candles).values(
                    instrument_id=instrument, interval="1day", ts=ts, open=1, high=200, low=1, close=SOL_PRICE
                )
            )
    async with services.db.read() as conn:
        value = await wallet_value(conn, wallet.id)
        group = await group_value(conn, "stakers")
        board = await leaderboard(conn, chain=Chain.SOLANA)
        series = await wallet_value_series(conn, wallet.id, interval="1day", start=now - timedelta(days=5))
    by_kind = {p.kind: p.value for p in value.positions}
    assert by_kind == {
        "liquid": Decimal(liquid) / 10**9 * SOL_PRICE,
        "staked": Decimal(staked) / 10**9 * SOL_PRICE,
    }
    assert value.total == Decimal(liquid + staked) / 10**9 * SOL_PRICE
    assert group.total == value.total
    assert [(e.wallet_id, e.score) for e in board.entries] == [(wallet.id, value.total)]
    # Staking is a snapshot: a bar that closed before it was observed values the liquid SOL alone;
    # the bar closing after the sync (12 h from now) counts the stake too.
    assert [p.value for p in series.points] == [
        Decimal(liquid) / 10**9 * SOL_PRICE,
        Decimal(liquid + staked) / 10**9 * SOL_PRICE,
    ]


async def test_cardano_unwithdrawn_rewards_are_a_rewards_line(services: Services, ledger: Ledger) -> None:
    address = ledger.cardano_wallets[0]
    stake = ledger.cardano_stake_address(address)
    assert stake is not None
    expected = ledger.staking(Chain.CARDANO, address)
    assert list(expected) == [("rewards", stake)]
    wallet = await _wallet(services, Chain.CARDANO, address)
    await _sync(services, wallet)
    assert await _snapshot(services.db, wallet.id) == expected
    lines = await _lines(services.db, wallet.id)
    assert lines[("native", "liquid")] == ledger.cardano_amounts(address)["lovelace"]
    assert lines[("native", "rewards")] == expected[("rewards", stake)]
    assert ("native", "staked") not in lines  # delegated ADA stays liquid: never counted twice


async def test_closed_account_and_withdrawn_rewards_leave_the_snapshot(
    services: Services, ledger: Ledger
) -> None:
    sol_address, ada_address = ledger.solana_wallets[0], ledger.cardano_wallets[1]
    sol = await _wallet(services, Chain.SOLANA, sol_address)
    ada = await _wallet(services, Chain.CARDANO, ada_address)
    await _sync(services, sol)
    await _sync(services, ada)
    before = await _snapshot(services.db, sol.id)
    closed, kept = sorted(source for _, source in before)
    between = datetime.now(UTC)
    assert len(await _snapshot(services.db, ada.id)) == 1

    ledger.solana_stakes.close(closed)
    ledger.solana_stakes.compound(kept, 1_234_567)  # one more epoch's reward
    ledger.cardano_rewards.withdraw(ledger.cardano_stake_address(ada_address) or "")
    stale: list[int] = []

    async def invalidate(wallet_id: int) -> None:  # what drops the wallet's cached reads
        stale.append(wallet_id)

    for wallet in (sol, ada):
        report = await sync_wallet(
            services.db,
            wallet.id,
            adapters=services.adapters,
            settings=services.settings,
            on_new_transactions=invalidate,
        )
        assert report.new_transactions == 0
    # No new transaction, but the staking changed: cached balances and values must go.
    assert stale == [sol.id, ada.id]
    await sync_wallet(
        services.db,
        sol.id,
        adapters=services.adapters,
        settings=services.settings,
        on_new_transactions=invalidate,
    )
    assert stale == [sol.id, ada.id]  # nothing changed this time

    after = await _snapshot(services.db, sol.id)
    assert (
        after
        == ledger.staking(Chain.SOLANA, sol_address)
        == {("staked", kept): before[("staked", kept)] + 1_234_567}
    )
    assert await _snapshot(services.db, ada.id) == {}
    assert ("native", "rewards") not in await _lines(services.db, ada.id)
    # Between the two syncs the kept account existed: a balance at that time still has it (at its
    # current amount: no past amounts are kept), rather than dipping to nothing before the reward.
    async with services.db.read() as conn:
        then = await wallet_balances(conn, sol.id, at=between)
    assert [b.amount for b in then if b.kind == "staked"] == [before[("staked", kept)] + 1_234_567]


async def test_failed_stake_listing_fails_the_sync_and_keeps_the_snapshot_whole(
    services: Services, ledger: Ledger
) -> None:
    address = ledger.solana_wallets[0]
    wallet = await _wallet(services, Chain.SOLANA, address)
    await _sync(services, wallet)
    before = await _snapshot(services.db, wallet.id)
    # The world changes (an account closed) but the node now refuses the stake listing, as public
    # RPCs that disable getProgramAccounts do.
    ledger.solana_stakes.close(sorted(source for _, source in before)[0])
    ledger.solana_stakes.refuse = (-32601, "Method not found")
    try:
        with pytest.raises(ProviderError):
            await _sync(services, wallet)
    finally:
        ledger.solana_stakes.refuse = None
    async with services.db.read() as conn:
        state = (await conn.execute(select(sync_state).where(sync_state.c.wallet_id == wallet.id))).one()
    assert state.status == "error"
    assert "\n" not in state.error
    assert f"reading stake accounts of {address}" in state.error
    assert "Method not found" in state.error
    assert await _snapshot(services.db, wallet.id) == before  # nothing half-replaced

    ada = await _wallet(services, Chain.CARDANO, ledger.cardano_wallets[0])
    ledger.cardano_rewards.refuse = 403
    try:
        with pytest.raises(ProviderError):
            await _sync(services, ada)
    finally:
        ledger.cardano_rewards.refuse = None
    async with services.db.read() as conn:
        error = await conn.scalar(select(sync_state.c.error).where(sync_state.c.wallet_id == ada.id))
    assert error is not None
    assert "reading staking rewards of" in error
    assert "\n" not in error
    assert await _snapshot(services.db, ada.id) == {}

    await _sync(services, wallet)  # the node answers again: the snapshot catches up
    assert await _snapshot(services.db, wallet.id) == ledger.staking(Chain.SOLANA, address)


async def test_a_sync_failing_at_its_end_keeps_the_old_snapshot_and_is_marked_failed(
    services: Services, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The new snapshot commits with the sync's end (`mark_done`), not before it: a failure there
    leaves the previous snapshot whole and the sync recorded as failed, not stuck 'running'."""
    address = ledger.solana_wallets[0]
    wallet = await _wallet(services, Chain.SOLANA, address)
    await _sync(services, wallet)
    before = await _snapshot(services.db, wallet.id)
    ledger.solana_stakes.close(sorted(source for _, source in before)[0])

    async def refused(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the database went away at the end")

    monkeypatch.setattr("walletsync.indexing.state.mark_done", refused)
    with pytest.raises(RuntimeError):
        await _sync(services, wallet)
    async with services.db.read() as conn:
        state = (await conn.execute(select(sync_state).where(sync_state.c.wallet_id == wallet.id))).one()
    assert state.status == "error"
    assert state.error == "RuntimeError: the database went away at the end"
    assert await _snapshot(services.db, wallet.id) == before

    monkeypatch.undo()
    await _sync(services, wallet)
    assert await _snapshot(services.db, wallet.id) == ledger.staking(Chain.SOLANA, address)
    assert len(await _snapshot(services.db, wallet.id)) == len(before) - 1


async def test_snapshot_replace_on_one_pooled_connection(db: Database) -> None:
    """Twelve replacements in a row on one connection (generic plans after five): each leaves exactly
    the hand-written lines, closed accounts deleted, `observed_at` kept from the first sighting of each
    account while its amount changes."""
    async with db.primary.begin() as conn:
        wallet = await add_wallet(conn, chain=Chain.SOLANA, address="9" * 44)
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    async with db.primary.connect() as conn:
        async with conn.begin():
            asset_id = await native_asset_id(conn, Chain.SOLANA, AssetIds())
        for n in range(12):
            # Run n: account A holds 1,000 + n lamports; B exists on even runs only; C never changes.
            positions = [StakePosition("staked", "A", 1_000 + n), StakePosition("staked", "C", 7)]
            if n % 2 == 0:
                positions.append(StakePosition("staked", "B", 50))
            async with conn.begin():
                changed = await replace_staking(
                    conn,
                    wallet_id=wallet.id,
                    asset_id=asset_id,
                    positions=positions,
                    now=t0 + timedelta(days=n),
                )
            assert changed
            rows = {
                r.source: (int(r.amount), r.observed_at)
                for r in await conn.execute(
                    select(staking_balances).where(staking_balances.c.wallet_id == wallet.id)
                )
            }
            expected = {"A": (1_000 + n, t0), "C": (7, t0)}
            if n % 2 == 0:
                expected["B"] = (50, t0 + timedelta(days=n))
            assert rows == expected
            await conn.commit()
        async with conn.begin():
            same = [StakePosition("staked", "A", 1_011), StakePosition("staked", "C", 7)]
            assert not await replace_staking(conn, wallet_id=wallet.id, asset_id=asset_id, positions=same)
            assert await replace_staking(conn, wallet_id=wallet.id, asset_id=asset_id, positions=[])
            assert await conn.scalar(select(staking_balances.c.wallet_id)) is None


async def test_staking_off_reads_nothing_and_drops_the_lines(
    services: Services, ledger: Ledger, simulator: SimulatorServer, database_url: str, tmp_path: Path
) -> None:
    """WALLETSYNC_STAKING=false (an RPC refusing getProgramAccounts): the sync succeeds without asking
    for stake accounts, and the lines stored while it was on go (nothing says they are still true)."""
    address = ledger.solana_wallets[0]
    wallet = await _wallet(services, Chain.SOLANA, address)
    await _sync(services, wallet)
    assert len(await _snapshot(services.db, wallet.id)) == 2
    ledger.solana_stakes.refuse = (-32601, "Method not found")
    try:
        off = simulator_settings(database_url, simulator, tmp_path / "off", staking=False)
        async with open_services(off, database_url) as opened:
            await sync_wallet(opened.db, wallet.id, adapters=opened.adapters, settings=opened.settings)
    finally:
        ledger.solana_stakes.refuse = None
    assert await _snapshot(services.db, wallet.id) == {}
    assert {b.kind for b in await _lines_list(services.db, wallet.id)} == {"liquid"}


async def _lines_list(db: Database, wallet_id: int) -> list[Balance]:
    async with db.read() as conn:
        return await wallet_balances(conn, wallet_id)
