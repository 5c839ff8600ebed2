"""Only the fee payer pays the fee: two tracked wallets in one transaction sum to the chain's change.

Expected values come from the simulator's own records of each transaction (who paid, the fee, the
amount moved), not from the product's reading of the response bodies.
"""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select

from walletsync.config import Chain
from walletsync.db.models import outbox
from walletsync.indexing.sync import sync_wallet
from walletsync.services import Services
from walletsync.simulator.ledger import Ledger
from walletsync.simulator.solana_records import SOL_TRANSFER
from walletsync.wallets.repository import TxRow, add_wallet, list_transactions


async def _synced_rows(services: Services, chain: Chain, addresses: list[str]) -> dict[str, dict[str, TxRow]]:
    """address -> tx id -> the wallet's row of that transaction (fee and deltas as the API shows)."""
    rows: dict[str, dict[str, TxRow]] = {}
    for address in addresses:
        async with services.db.write() as conn:
            wallet = await add_wallet(conn, chain=chain, address=address)
        await sync_wallet(services.db, wallet.id, adapters=services.adapters, settings=services.settings)
        async with services.db.read() as conn:
            rows[address] = {row.tx_id: row for row in await list_transactions(conn, wallet.id, limit=10_000)}
    return rows


def _native(row: TxRow) -> int:
    return sum(d.amount for d in row.deltas if d.asset_key == "native")


async def test_solana_fee_is_paid_by_the_fee_payer_only(services: Services, ledger: Ledger) -> None:
    wallets = ledger.solana_wallets[:3]
    rows = await _synced_rows(services, Chain.SOLANA, wallets)
    sol = ledger.solana
    shared = [
        tx
        for tx in sol.txs
        if tx.kind == SOL_TRANSFER
        and sol.accounts[tx.payer] in wallets
        and sol.accounts[tx.dest] in wallets
        and sol.accounts[tx.dest] != sol.accounts[tx.payer]
    ]
    assert len(shared) >= 3  # the ledger's wallets pay each other
    for tx in shared:
        payer, dest = sol.accounts[tx.payer], sol.accounts[tx.dest]
        paid, received = rows[payer][tx.signature], rows[dest][tx.signature]
        moved = 0 if tx.failed else tx.amount
        assert (int(paid.fee), int(received.fee)) == (tx.fee, 0)
        assert (_native(paid), _native(received)) == (-moved - tx.fee, moved)
        # Summed over both tracked wallets: the chain's own change (the fee, burnt once).
        assert _native(paid) + _native(received) == -tx.fee
    # Over every transaction: each wallet's fees are exactly those it paid on chain.
    for address in wallets:
        index = sol.account_index[address]
        paid_on_chain = sum(tx.fee for tx in sol.txs if tx.payer == index)
        assert sum(int(row.fee) for row in rows[address].values()) == paid_on_chain
    async with services.db.read() as conn:
        events = [
            row.payload
            for row in await conn.execute(select(outbox.c.payload).where(outbox.c.topic == "tx.indexed"))
        ]
    fees = Counter[str]()
    for event in events:
        fees[event["tx_id"]] += int(event["fee"])
    assert all(fees[tx.signature] == tx.fee for tx in shared)


async def test_cardano_fee_is_paid_by_the_wallet_whose_inputs_fund_it(
    services: Services, ledger: Ledger
) -> None:
    wallets = ledger.cardano_wallets[:3]
    rows = await _synced_rows(services, Chain.CARDANO, wallets)
    ada = ledger.cardano
    checked = 0
    for tx in ada.txs:
        # The simulator records which address built (and funds) each transaction.
        payer = ada.addresses[tx.payer]
        others = {ada.addresses[o.address] for o in tx.outputs} & set(wallets) - {payer}
        if payer not in wallets or not others:
            continue
        checked += 1
        assert (int(rows[payer][tx.hash].fee), int(rows[min(others)][tx.hash].fee)) == (tx.fee, 0)
    assert checked >= 3  # the ledger's wallets pay each other
    for address in wallets:
        index = ada.address_index[address]
        paid_on_chain = sum(tx.fee for tx in ada.txs if tx.payer == index)
        assert sum(int(row.fee) for row in rows[address].values()) == paid_on_chain
