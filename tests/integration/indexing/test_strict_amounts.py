"""A provider amount of the wrong JSON type fails the sync with one line naming the transaction and
field, and stores nothing (simulator `wrong_type_rate` over real HTTP, real PostgreSQL)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from walletsync.config import Chain
from walletsync.db.models import balance_deltas, outbox, sync_state, transactions, wallet_transactions
from walletsync.indexing.sync import sync_wallet
from walletsync.providers.errors import MalformedResponseError
from walletsync.services import Services
from walletsync.simulator.faults import FaultConfig, FaultRule
from walletsync.simulator.ledger import Ledger
from walletsync.simulator.server import SimulatorServer
from walletsync.wallets.repository import add_wallet

FIELD = {
    "blockfrost": r"(inputs|outputs)\[\d+\]\.amount\[\d+\]\.quantity must be a string of decimal digits within u64",
    "solana": r"meta\.(preBalances\[\d+\]|postBalances\[\d+\]|fee) must be an integer within u64",
}


@pytest.mark.parametrize(("chain", "provider"), [(Chain.CARDANO, "blockfrost"), (Chain.SOLANA, "solana")])
async def test_wrong_typed_amount_fails_the_sync_naming_tx_and_field(
    services: Services, ledger: Ledger, simulator: SimulatorServer, chain: Chain, provider: str
) -> None:
    address = ledger.wallets(chain)[0]
    async with services.db.write() as conn:
        wallet = await add_wallet(conn, chain=chain, address=address)
    simulator.set_faults(FaultConfig(seed=5, providers={provider: FaultRule(wrong_type_rate=1.0)}))
    try:
        with pytest.raises(MalformedResponseError):
            await sync_wallet(services.db, wallet.id, adapters=services.adapters, settings=services.settings)
    finally:
        simulator.set_faults(FaultConfig())
    async with services.db.read() as conn:
        state = (await conn.execute(select(sync_state).where(sync_state.c.wallet_id == wallet.id))).one()
        counts = [
            await conn.scalar(select(func.count()).select_from(table))
            for table in (transactions, wallet_transactions, balance_deltas)
        ]
    assert state.status == "error"
    assert "\n" not in state.error
    match = re.fullmatch(
        rf"MalformedResponseError: {provider}: transaction (\S+): {FIELD[provider]}, got .+", state.error
    )
    assert match, state.error
    assert match.group(1) in ledger.wallet_tx_ids(chain, address)
    assert state.cursor is None
    # Nothing was stored: no fact, no link, no delta, no event (sync.failed events aside).
    assert counts == [0, 0, 0]
    async with services.db.read() as conn:
        topics = set((await conn.execute(select(outbox.c.topic))).scalars())
    assert "tx.indexed" not in topics
