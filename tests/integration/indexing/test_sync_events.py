"""The events a sync writes besides `tx.indexed`: `balance.changed` per batch, `sync.completed`, `sync.failed`."""

from __future__ import annotations

from collections import defaultdict
from itertools import pairwise

import pytest
from sqlalchemy import select

from walletsync.config import Chain
from walletsync.db.models import outbox
from walletsync.indexing.sync import sync_wallet
from walletsync.providers.errors import ProviderError
from walletsync.services import Services
from walletsync.simulator.faults import FaultConfig, FaultRule
from walletsync.simulator.ledger import Ledger
from walletsync.simulator.server import SimulatorServer
from walletsync.wallets.repository import add_wallet


async def _events(services: Services, topic: str) -> list[dict[str, object]]:
    async with services.db.read() as conn:
        rows = await conn.execute(
            select(outbox.c.payload).where(outbox.c.topic == topic).order_by(outbox.c.id)
        )
        return [row.payload for row in rows]


async def test_balance_changes_chain_from_zero_to_the_ledger_balance(
    services: Services, ledger: Ledger
) -> None:
    """Over a three-page backfill each asset's events chain old -> new, ending at the chain's balance."""
    address = ledger.solana_wallets[3]  # 2,300 transactions: several committed batches
    async with services.db.write() as conn:
        wallet = await add_wallet(conn, chain=Chain.SOLANA, address=address)
    report = await sync_wallet(services.db, wallet.id, adapters=services.adapters, settings=services.settings)
    changes = await _events(services, "balance.changed")
    by_asset: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for event in changes:
        assert event["wallet_id"] == wallet.id
        by_asset[str(event["asset"])].append((int(str(event["old_amount"])), int(str(event["new_amount"]))))
    expected = {"native": ledger.solana_lamports(address), **ledger.solana_token_balances(address)}
    for asset, steps in by_asset.items():
        assert steps[0][0] == 0
        assert all(prev[1] == nxt[0] for prev, nxt in pairwise(steps))
        assert all(old != new for old, new in steps)  # an event means a change
        assert steps[-1][1] == expected[asset]
    assert len(by_asset["native"]) > 1  # one per committed batch, not one per sync
    assert {a for a, v in expected.items() if v} <= set(by_asset)
    (completed,) = await _events(services, "sync.completed")
    assert (
        completed["new_transactions"]
        == report.new_transactions
        == len(ledger.wallet_tx_ids(Chain.SOLANA, address))
    )
    # A resync finds nothing new and stays quiet.
    await sync_wallet(services.db, wallet.id, adapters=services.adapters, settings=services.settings)
    assert len(await _events(services, "sync.completed")) == 1
    assert len(await _events(services, "balance.changed")) == len(changes)


async def test_failed_sync_writes_sync_failed_with_the_error(
    services: Services, ledger: Ledger, simulator: SimulatorServer
) -> None:
    async with services.db.write() as conn:
        wallet = await add_wallet(conn, chain=Chain.CARDANO, address=ledger.cardano_wallets[2])
    simulator.set_faults(FaultConfig(providers={"blockfrost": FaultRule(malformed_rate=1.0)}))
    try:
        with pytest.raises(ProviderError):
            await sync_wallet(services.db, wallet.id, adapters=services.adapters, settings=services.settings)
    finally:
        simulator.set_faults(FaultConfig())
    (failed,) = await _events(services, "sync.failed")
    assert failed["wallet_id"] == wallet.id
    assert failed["chain"] == "cardano"
    assert str(failed["error"]).startswith(
        ("MalformedResponseError: blockfrost:", "ProviderUnavailableError: blockfrost:")
    )
    assert await _events(services, "sync.completed") == []
