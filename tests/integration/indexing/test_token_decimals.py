"""Solana token decimals come from the transactions' own token balances, so a token whose mint
account is gone (closed: `getAccountInfo` null) still gets its decimals (truth: the simulator's mints)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from walletsync.config import Chain
from walletsync.db.models import assets
from walletsync.indexing.sync import sync_wallet
from walletsync.services import open_services
from walletsync.simulator.ledger import Ledger
from walletsync.simulator.server import SimulatorServer
from walletsync.wallets.repository import add_wallet

from .conftest import simulator_settings


@pytest.fixture
def closed_mints() -> Ledger:
    ledger = Ledger(13, solana_wallets=2, cardano_wallets=0)
    ledger.solana.closed_mints = set(ledger.solana_mints)
    return ledger


@pytest.fixture
def mint_simulator(closed_mints: Ledger) -> Iterator[SimulatorServer]:
    with SimulatorServer(closed_mints) as server:
        yield server


async def test_decimals_of_tokens_whose_mint_is_closed(
    db: object, database_url: str, closed_mints: Ledger, mint_simulator: SimulatorServer, tmp_path: Path
) -> None:
    settings = simulator_settings(database_url, mint_simulator, tmp_path / "data")
    async with open_services(settings, database_url) as services:
        assert services.adapters.solana is not None
        for address in closed_mints.solana_wallets:
            async with services.db.write() as conn:
                wallet = await add_wallet(conn, chain=Chain.SOLANA, address=address)
            await sync_wallet(services.db, wallet.id, adapters=services.adapters, settings=services.settings)
        async with services.db.read() as conn:
            stored = {
                row.asset_key: row.decimals
                for row in await conn.execute(
                    select(assets.c.asset_key, assets.c.decimals).where(assets.c.chain == "solana")
                )
            }
    mints = {key: decimals for key, decimals in stored.items() if key != "native"}
    assert mints  # the wallets hold tokens
    assert mints == {mint: closed_mints.mint_decimals(mint) for mint in mints}
