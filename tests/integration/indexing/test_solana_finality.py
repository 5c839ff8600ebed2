"""Solana finality against the simulator with a finality lag: at `finalized` (the default) only
finalized transactions are indexed; at `confirmed` the newer ones are indexed provisionally,
re-verified on the next sync, and retracted when the fork that held them is abandoned."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from walletsync.config import Chain
from walletsync.db.models import outbox
from walletsync.indexing.sync import sync_wallet
from walletsync.services import open_services
from walletsync.simulator.forks import drop_solana_newest
from walletsync.simulator.ledger import Ledger
from walletsync.simulator.server import SimulatorServer
from walletsync.wallets.repository import add_wallet

from .conftest import simulator_settings
from .stored import indexed_state, ledger_solana_balances


@pytest.fixture
def lagging() -> tuple[Ledger, list[int]]:
    """A ledger whose 5 newest transactions are not finalized yet; their slots."""
    ledger = Ledger(41, solana_wallets=2, cardano_wallets=0)
    sol = ledger.solana
    slots = sorted(tx.slot for tx in sol.txs)
    sol.finality_lag = sol.latest_slot - slots[-5] + 1
    assert sol.finalized_slot < slots[-5]
    return ledger, slots[-5:]


@pytest.fixture
def lag_simulator(lagging: tuple[Ledger, list[int]]) -> Iterator[SimulatorServer]:
    with SimulatorServer(lagging[0]) as server:
        yield server


def _ledger_state(ledger: Ledger, address: str) -> tuple[Counter[str], dict[str, int]]:
    return Counter(ledger.wallet_tx_ids(Chain.SOLANA, address)), ledger_solana_balances(ledger, address)


async def test_finalized_commitment_indexes_only_finalized(
    db: object,
    database_url: str,
    lagging: tuple[Ledger, list[int]],
    lag_simulator: SimulatorServer,
    tmp_path: Path,
) -> None:
    ledger, _ = lagging
    sol = ledger.solana
    settings = simulator_settings(database_url, lag_simulator, tmp_path / "data")
    assert settings.solana_commitment == "finalized"
    async with open_services(settings, database_url) as services:
        for address in ledger.solana_wallets:
            async with services.db.write() as conn:
                wallet = await add_wallet(conn, chain=Chain.SOLANA, address=address)
            await sync_wallet(services.db, wallet.id, adapters=services.adapters, settings=services.settings)
            ids, _ = await indexed_state(services.db, wallet.id)
            final = {
                s
                for s in ledger.wallet_tx_ids(Chain.SOLANA, address)
                if sol.txs[sol.sig_index[s]].slot <= sol.finalized_slot
            }
            assert set(ids) == final


async def test_confirmed_facts_are_provisional_and_retracted_when_dropped(
    db: object,
    database_url: str,
    lagging: tuple[Ledger, list[int]],
    lag_simulator: SimulatorServer,
    tmp_path: Path,
) -> None:
    ledger, _ = lagging
    sol = ledger.solana
    settings = simulator_settings(
        database_url, lag_simulator, tmp_path / "data", solana_commitment="confirmed"
    )
    async with open_services(settings, database_url) as services:
        wallets = {}
        for address in ledger.solana_wallets:
            async with services.db.write() as conn:
                wallets[address] = (await add_wallet(conn, chain=Chain.SOLANA, address=address)).id
            await sync_wallet(
                services.db, wallets[address], adapters=services.adapters, settings=services.settings
            )
            assert await indexed_state(services.db, wallets[address]) == _ledger_state(ledger, address)
        # The fork holding the 3 newest (unfinalized) transactions is abandoned.
        dropped = set(drop_solana_newest(sol, 3))
        linked = {
            s for s in dropped for address in wallets if s in (await indexed_state(services.db, wallets[address]))[0]
        }
        assert linked
        for address, wallet_id in wallets.items():
            await sync_wallet(services.db, wallet_id, adapters=services.adapters, settings=services.settings)
            assert await indexed_state(services.db, wallet_id) == _ledger_state(ledger, address)
        async with services.db.read() as conn:
            rolled_back = [
                row.payload
                for row in await conn.execute(
                    select(outbox.c.payload).where(outbox.c.topic == "tx.rolled_back")
                )
            ]
        assert {p["tx_id"] for p in rolled_back} == linked
        # Nothing is retracted twice; a further sync is quiet.
        for wallet_id in wallets.values():
            again = await sync_wallet(
                services.db, wallet_id, adapters=services.adapters, settings=services.settings
            )
            assert again.new_transactions == 0
        async with services.db.read() as conn:
            count = Counter((await conn.execute(select(outbox.c.topic))).scalars())["tx.rolled_back"]
        assert count == len(rolled_back)
