"""Cardano rollbacks against the simulator's forks (`POST /_admin/reorg`), on a real PostgreSQL.

Each test has its own ledger and simulator (a reorg changes the chain). Expected values are the
simulator's ledger after the fork (its own UTxO replay) and the `tx.indexed` events written before it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from walletsync.config import Chain
from walletsync.db.models import current_balances, outbox, sync_state
from walletsync.indexing.sync import sync_wallet
from walletsync.services import Services, open_services
from walletsync.simulator.ledger import Ledger
from walletsync.simulator.server import SimulatorServer
from walletsync.wallets.repository import add_wallet

from .conftest import simulator_settings
from .stored import indexed_state


@pytest.fixture
def fork_ledger() -> Ledger:
    return Ledger(23, solana_wallets=0, cardano_wallets=3)


@pytest.fixture
def fork_simulator(fork_ledger: Ledger) -> Iterator[SimulatorServer]:
    with SimulatorServer(fork_ledger) as server:
        yield server


async def _services(
    database_url: str, simulator: SimulatorServer, tmp_path: Path, **overrides: object
) -> AsyncIterator[Services]:
    settings = simulator_settings(database_url, simulator, tmp_path / "data", **overrides)
    async with open_services(settings, database_url) as opened:
        yield opened


def _heights(ledger: Ledger, address: str) -> list[int]:
    """Heights of the address's transactions on the simulator's chain, oldest first."""
    ada = ledger.cardano
    return sorted(ada.txs[ada.hash_index[h]].height for h in ledger.wallet_tx_ids(Chain.CARDANO, address))


def _ledger_balances(ledger: Ledger, address: str) -> dict[str, int]:
    return {
        ("native" if unit == "lovelace" else unit): q for unit, q in ledger.cardano_amounts(address).items()
    }


async def test_safety_depth_keeps_the_newest_blocks_out(
    db: object, database_url: str, fork_simulator: SimulatorServer, fork_ledger: Ledger, tmp_path: Path
) -> None:
    """Transactions fewer than SAFETY_DEPTH blocks below the tip are not indexed yet."""
    address = fork_ledger.cardano_wallets[0]
    heights = _heights(fork_ledger, address)
    tip = fork_ledger.cardano.tip_height
    depth = tip - heights[-3] + 1  # the three newest are too shallow
    async for services in _services(database_url, fork_simulator, tmp_path, cardano_safety_depth=depth):
        async with services.db.write() as conn:
            wallet = await add_wallet(conn, chain=Chain.CARDANO, address=address)
        await sync_wallet(services.db, wallet.id, adapters=services.adapters, settings=services.settings)
        ids, _ = await indexed_state(services.db, wallet.id)
    ada = fork_ledger.cardano
    expected = {
        h
        for h in fork_ledger.wallet_tx_ids(Chain.CARDANO, address)
        if ada.txs[ada.hash_index[h]].height <= tip - depth
    }
    assert len(expected) == len(heights) - 3
    assert set(ids) == expected


async def test_rolled_back_transactions_are_retracted_and_the_wallet_matches_the_fork(
    db: object, database_url: str, fork_simulator: SimulatorServer, fork_ledger: Ledger, tmp_path: Path
) -> None:
    """SAFETY_DEPTH=0: a reorg drops some of the wallet's newest transactions and re-includes others
    in new blocks; the next sync retracts them (tx.rolled_back with the deltas tx.indexed carried),
    re-indexes the re-included ones, and the wallet equals the ledger after the fork."""
    address = fork_ledger.cardano_wallets[1]
    async for services in _services(
        database_url, fork_simulator, tmp_path, cardano_safety_depth=0, cardano_rollback_window=10**7
    ):
        async with services.db.write() as conn:
            wallet = await add_wallet(conn, chain=Chain.CARDANO, address=address)
        await sync_wallet(services.db, wallet.id, adapters=services.adapters, settings=services.settings)
        before_ids, _ = await indexed_state(services.db, wallet.id)
        assert before_ids == Counter(fork_ledger.wallet_tx_ids(Chain.CARDANO, address))
        async with services.db.read() as conn:
            indexed = {
                row.payload["tx_id"]: row.payload["deltas"]
                for row in await conn.execute(select(outbox.c.payload).where(outbox.c.topic == "tx.indexed"))
            }

        heights = _heights(fork_ledger, address)
        depth = fork_ledger.cardano.tip_height - heights[-6] + 1  # the fork replaces the 6 newest
        fork = fork_simulator.reorg(depth, drop=0.5, seed=1)
        mine = set(before_ids)
        dropped = set(fork["dropped"]) & mine
        moved = set(fork["reincluded"]) & mine
        # Both cases happen to this wallet.
        assert dropped
        assert moved

        await sync_wallet(services.db, wallet.id, adapters=services.adapters, settings=services.settings)
        ids, balances = await indexed_state(services.db, wallet.id)
        assert ids == Counter(fork_ledger.wallet_tx_ids(Chain.CARDANO, address))
        assert not dropped & set(ids)
        assert balances == {k: v for k, v in _ledger_balances(fork_ledger, address).items() if v}
        async with services.db.read() as conn:
            rolled_back = [
                row.payload
                for row in await conn.execute(
                    select(outbox.c.payload).where(outbox.c.topic == "tx.rolled_back").order_by(outbox.c.id)
                )
            ]
            current = {
                row.asset_id: int(row.amount)
                for row in await conn.execute(
                    select(current_balances.c.asset_id, current_balances.c.amount).where(
                        current_balances.c.wallet_id == wallet.id
                    )
                )
                if row.amount
            }
            state = (await conn.execute(select(sync_state).where(sync_state.c.wallet_id == wallet.id))).one()
        assert {p["tx_id"] for p in rolled_back} == dropped | moved
        for payload in rolled_back:
            assert (payload["wallet_id"], payload["chain"], payload["address"]) == (
                wallet.id,
                "cardano",
                address,
            )
            assert sorted(payload["deltas"], key=lambda d: d["asset"]) == sorted(
                indexed[payload["tx_id"]], key=lambda d: d["asset"]
            )
        assert sorted(current.values()) == sorted(v for v in balances.values())
        assert state.tx_count == sum(ids.values())

        again = await sync_wallet(
            services.db, wallet.id, adapters=services.adapters, settings=services.settings
        )
        assert again.new_transactions == 0
        async with services.db.read() as conn:
            topics = Counter((await conn.execute(select(outbox.c.topic))).scalars())
        assert topics["tx.rolled_back"] == len(rolled_back)  # nothing retracted twice


async def test_a_shared_transaction_moved_to_another_block_is_retracted_once(
    db: object, database_url: str, fork_simulator: SimulatorServer, fork_ledger: Ledger, tmp_path: Path
) -> None:
    """Two tracked wallets share a transaction; a fork re-includes it in a new block. The first wallet
    retracts and re-indexes it once: the shared row takes the new block, so neither that wallet's
    next sync nor the other wallet's retracts it again."""
    ada = fork_ledger.cardano
    first, second = fork_ledger.cardano_wallets[:2]
    shared = fork_ledger.wallet_tx_ids(Chain.CARDANO, first) & fork_ledger.wallet_tx_ids(
        Chain.CARDANO, second
    )
    newest = max(shared, key=lambda h: ada.txs[ada.hash_index[h]].height)
    async for services in _services(
        database_url, fork_simulator, tmp_path, cardano_safety_depth=0, cardano_rollback_window=10**7
    ):
        ids = {}
        for address in (first, second):
            async with services.db.write() as conn:
                ids[address] = (await add_wallet(conn, chain=Chain.CARDANO, address=address)).id
            await sync_wallet(
                services.db, ids[address], adapters=services.adapters, settings=services.settings
            )
        fork_simulator.reorg(ada.tip_height - ada.txs[ada.hash_index[newest]].height + 1, drop=0.0)

        for _ in range(2):
            await sync_wallet(services.db, ids[first], adapters=services.adapters, settings=services.settings)
        await sync_wallet(services.db, ids[second], adapters=services.adapters, settings=services.settings)
        async with services.db.read() as conn:
            rows = await conn.execute(select(outbox.c.payload).where(outbox.c.topic == "tx.rolled_back"))
            counts = Counter((row.payload["wallet_id"], row.payload["tx_id"]) for row in rows)
        assert counts[(ids[first], newest)] == 1
        assert counts[(ids[second], newest)] == 0
        for address in (first, second):
            linked, balances = await indexed_state(services.db, ids[address])
            assert linked == Counter(fork_ledger.wallet_tx_ids(Chain.CARDANO, address))
            assert balances == {k: v for k, v in _ledger_balances(fork_ledger, address).items() if v}
