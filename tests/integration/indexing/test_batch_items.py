"""Failed items of a Solana JSON-RPC batch, against the simulator over HTTP, on a real PostgreSQL."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import func, select

from walletsync.config import Chain
from walletsync.db.models import sync_state, wallet_transactions
from walletsync.indexing.sync import sync_wallet
from walletsync.portfolio.balances import wallet_balances
from walletsync.providers.solana import TransactionUnavailableError
from walletsync.services import Services
from walletsync.simulator.faults import FaultConfig, FaultRule
from walletsync.simulator.ledger import Ledger
from walletsync.simulator.server import SimulatorServer
from walletsync.wallets.repository import add_wallet


async def test_failed_batch_items_are_retried_and_the_sync_matches_the_ledger(
    services: Services, ledger: Ledger, simulator: SimulatorServer
) -> None:
    """A third of getTransaction items answered -32005 or null: each is retried, nothing is lost."""
    address = ledger.solana_wallets[1]
    async with services.db.write() as conn:
        wallet = await add_wallet(conn, chain=Chain.SOLANA, address=address)
    simulator.set_faults(
        FaultConfig(seed=3, providers={"solana": FaultRule(item_error_rate=0.2, item_null_rate=0.15)})
    )
    try:
        await sync_wallet(services.db, wallet.id, adapters=services.adapters, settings=services.settings)
        assert simulator.stats()["faults"]["item"] > 5  # the faults did happen
    finally:
        simulator.set_faults(FaultConfig())
    async with services.db.read() as conn:
        ids = (
            await conn.execute(
                select(wallet_transactions.c.tx_id).where(wallet_transactions.c.wallet_id == wallet.id)
            )
        ).scalars()
        balances = {b.asset_key: b.amount for b in await wallet_balances(conn, wallet.id) if b.kind == "liquid"}
    assert Counter(ids) == Counter(ledger.wallet_tx_ids(Chain.SOLANA, address))
    expected = {"native": ledger.solana_lamports(address), **ledger.solana_token_balances(address)}
    assert balances == {k: v for k, v in expected.items() if v}


async def test_a_transaction_that_stays_unavailable_fails_the_sync_naming_it(
    services: Services, ledger: Ledger, simulator: SimulatorServer
) -> None:
    """Every node answers null for one signature: the sync fails, its error names that signature."""
    address = ledger.solana_wallets[2]
    lost = sorted(ledger.wallet_tx_ids(Chain.SOLANA, address))[0]
    async with services.db.write() as conn:
        wallet = await add_wallet(conn, chain=Chain.SOLANA, address=address)
    simulator.set_faults(FaultConfig(providers={"solana": FaultRule(missing_signatures=[lost])}))
    try:
        with pytest.raises(TransactionUnavailableError) as caught:
            await sync_wallet(services.db, wallet.id, adapters=services.adapters, settings=services.settings)
    finally:
        simulator.set_faults(FaultConfig())
    assert caught.value.signatures == (lost,)
    async with services.db.read() as conn:
        state = (await conn.execute(select(sync_state).where(sync_state.c.wallet_id == wallet.id))).one()
        linked = await conn.scalar(
            select(func.count()).select_from(wallet_transactions).where(wallet_transactions.c.tx_id == lost)
        )
    assert state.status == "error"
    assert "\n" not in state.error
    assert state.error.startswith("TransactionUnavailableError: solana: transaction unavailable after")
    assert lost in state.error
    assert linked == 0
    # Once the node has it again, a re-sync completes the wallet.
    await sync_wallet(services.db, wallet.id, adapters=services.adapters, settings=services.settings)
    async with services.db.read() as conn:
        ids = (
            await conn.execute(
                select(wallet_transactions.c.tx_id).where(wallet_transactions.c.wallet_id == wallet.id)
            )
        ).scalars()
        assert Counter(ids) == Counter(ledger.wallet_tx_ids(Chain.SOLANA, address))
