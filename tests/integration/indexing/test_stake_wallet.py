"""A stake-address (`stake1…`) Cardano wallet: several payment addresses found through the paginated
`/accounts/{stake}/addresses`, one of them with a transaction listing longer than one page."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from walletsync.config import Chain
from walletsync.db.models import wallet_transactions
from walletsync.indexing.sync import sync_wallet
from walletsync.portfolio.balances import wallet_balances
from walletsync.providers import cardano
from walletsync.services import open_services
from walletsync.simulator.ledger import Ledger
from walletsync.simulator.server import SimulatorServer
from walletsync.wallets.repository import add_wallet

from .conftest import simulator_settings

# 3 addresses; the first with 230 transactions (three listing pages of 100).
COUNTS = (230, 12, 7)


@pytest.fixture
def stake_ledger() -> tuple[Ledger, str]:
    ledger = Ledger(31, solana_wallets=0, cardano_wallets=0)
    return ledger, ledger.add_cardano_stake_wallet(COUNTS)


@pytest.fixture
def stake_simulator(stake_ledger: tuple[Ledger, str]) -> Iterator[SimulatorServer]:
    with SimulatorServer(stake_ledger[0]) as server:
        yield server


async def test_stake_wallet_with_several_addresses_and_long_listings(
    db: object,
    database_url: str,
    stake_ledger: tuple[Ledger, str],
    stake_simulator: SimulatorServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ledger, stake = stake_ledger
    addresses = ledger.stake_wallet_addresses(stake)
    assert len(addresses) == 3
    assert sorted(len(ledger.wallet_tx_ids(Chain.CARDANO, a)) for a in addresses) == sorted(COUNTS)
    # Two addresses per page of /accounts/{stake}/addresses: its pagination is exercised too.
    monkeypatch.setattr(cardano, "PAGE_SIZE", 2)
    settings = simulator_settings(database_url, stake_simulator, tmp_path / "data")
    async with open_services(settings, database_url) as services:
        assert services.adapters.cardano is not None
        assert sorted(await services.adapters.cardano.account_addresses(stake)) == sorted(addresses)
        async with services.db.write() as conn:
            wallet = await add_wallet(conn, chain=Chain.CARDANO, address=stake)
        report = await sync_wallet(
            services.db, wallet.id, adapters=services.adapters, settings=services.settings
        )
        async with services.db.read() as conn:
            ids = Counter(
                (
                    await conn.execute(
                        select(wallet_transactions.c.tx_id).where(
                            wallet_transactions.c.wallet_id == wallet.id
                        )
                    )
                ).scalars()
            )
            balances = {b.asset_key: b.amount for b in await wallet_balances(conn, wallet.id) if b.kind == "liquid"}
    expected_ids = ledger.wallet_tx_ids(Chain.CARDANO, stake)
    assert len(expected_ids) == sum(COUNTS)
    assert ids == Counter(expected_ids)
    assert report.pages >= 5  # three listing pages for the busy address, one for each other
    expected = {("native" if u == "lovelace" else u): q for u, q in ledger.cardano_amounts(stake).items()}
    assert balances == expected
