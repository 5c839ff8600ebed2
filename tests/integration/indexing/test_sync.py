"""Wallet sync against the simulator over real HTTP, on a real PostgreSQL."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import orjson
import pytest
from sqlalchemy import Text, func, select

from tests.integration.indexing.stored import linked_tx_ids
from walletsync.config import Chain
from walletsync.db.models import balance_deltas, outbox, sync_state, transactions, wallet_transactions
from walletsync.indexing.sync import WalletBusyError, sync_wallet, wallet_lock
from walletsync.portfolio.balances import wallet_balances
from walletsync.providers.errors import MalformedResponseError, ProviderError, ProviderUnavailableError
from walletsync.services import Services
from walletsync.simulator.faults import FaultConfig, FaultRule
from walletsync.simulator.ledger import Ledger
from walletsync.simulator.server import SimulatorServer
from walletsync.wallets.repository import WalletRow, add_wallet


async def _track(services: Services, chain: Chain, address: str) -> WalletRow:
    async with services.db.write() as conn:
        return await add_wallet(conn, chain=chain, address=address)


# The indexer's own events (balance.changed and sync.* are tested in test_sync_events.py).
TX_EVENTS = outbox.select().where(outbox.c.topic == "tx.indexed").subquery()


async def _count(services: Services, table: object) -> int:
    async with services.db.read() as conn:
        return int(await conn.scalar(select(func.count()).select_from(table)) or 0)  # type: ignore[arg-type]


def _expected_balances(ledger: Ledger, chain: Chain, address: str) -> dict[str, int]:
    if chain is Chain.SOLANA:
        expected = {"native": ledger.solana_lamports(address)}
        expected.update(ledger.solana_token_balances(address))
    else:
        expected = {
            ("native" if unit == "lovelace" else unit): qty
            for unit, qty in ledger.cardano_amounts(address).items()
        }
    return {asset: amount for asset, amount in expected.items() if amount != 0}


@pytest.mark.parametrize("chain", [Chain.SOLANA, Chain.CARDANO])
async def test_sync_gives_exactly_the_ledger(services: Services, ledger: Ledger, chain: Chain) -> None:
    """Every wallet's indexed transactions and balances equal the simulator's ground truth."""
    for address in ledger.wallets(chain)[:3]:
        wallet = await _track(services, chain, address)
        report = await sync_wallet(
            services.db, wallet.id, adapters=services.adapters, settings=services.settings
        )
        ids = await linked_tx_ids(services.db, wallet.id)
        assert Counter(ids) == Counter(ledger.wallet_tx_ids(chain, address))
        assert report.new_transactions == len(ids)
        async with services.db.read() as conn:
            balances = await wallet_balances(conn, wallet.id)
        assert {b.asset_key: b.amount for b in balances if b.kind == "liquid"} == _expected_balances(
            ledger, chain, address
        )


async def test_balances_match_provider_reported_amounts(services: Services, ledger: Ledger) -> None:
    """Computed balances equal what the simulator's getBalance and /addresses/{addr} report over HTTP."""
    solana_adapter, cardano_adapter = services.adapters.solana, services.adapters.cardano
    assert solana_adapter is not None
    assert cardano_adapter is not None
    sol_address, ada_address = ledger.solana_wallets[0], ledger.cardano_wallets[0]
    sol = await _track(services, Chain.SOLANA, sol_address)
    ada = await _track(services, Chain.CARDANO, ada_address)
    for wallet in (sol, ada):
        await sync_wallet(services.db, wallet.id, adapters=services.adapters, settings=services.settings)
    async with services.db.read() as conn:
        sol_balances = {
            b.asset_key: b.amount for b in await wallet_balances(conn, sol.id) if b.kind == "liquid"
        }
        ada_balances = {
            b.asset_key: b.amount for b in await wallet_balances(conn, ada.id) if b.kind == "liquid"
        }
    assert sol_balances["native"] == await solana_adapter.balance(sol_address)
    token_amounts: Counter[str] = Counter()
    for account in await solana_adapter.token_accounts(sol_address):
        token_amounts[account.mint] += account.amount
    assert {k: v for k, v in sol_balances.items() if k != "native"} == {
        k: v for k, v in token_amounts.items() if v
    }
    held = {h.asset: h.amount for h in await cardano_adapter.address_amounts(ada_address) if h.amount}
    assert ada_balances == held


async def test_resync_adds_nothing(services: Services, ledger: Ledger) -> None:
    """A second sync of a synced wallet stores no rows and emits no events."""
    wallet = await _track(services, Chain.SOLANA, ledger.solana_wallets[1])
    await sync_wallet(services.db, wallet.id, adapters=services.adapters, settings=services.settings)
    before = [await _count(services, t) for t in (transactions, balance_deltas, wallet_transactions, outbox)]
    again = await sync_wallet(services.db, wallet.id, adapters=services.adapters, settings=services.settings)
    after = [await _count(services, t) for t in (transactions, balance_deltas, wallet_transactions, outbox)]
    assert again.new_transactions == 0
    assert after == before


async def test_one_outbox_event_per_new_transaction(services: Services, ledger: Ledger) -> None:
    """Each transaction new to a wallet has exactly one tx.indexed event with its deltas."""
    address = ledger.cardano_wallets[1]
    wallet = await _track(services, Chain.CARDANO, address)
    await sync_wallet(services.db, wallet.id, adapters=services.adapters, settings=services.settings)
    async with services.db.read() as conn:
        events = [
            row.payload
            for row in await conn.execute(select(outbox.c.payload).where(outbox.c.topic == "tx.indexed"))
        ]
    assert sorted(e["tx_id"] for e in events) == sorted(ledger.wallet_tx_ids(Chain.CARDANO, address))
    assert all(e["wallet_id"] == wallet.id and e["address"] == address for e in events)
    total = Counter[str]()
    for event in events:
        for delta in event["deltas"]:
            total[delta["asset"]] += int(delta["amount"])
    assert {k: v for k, v in total.items() if v} == _expected_balances(ledger, Chain.CARDANO, address)


async def test_interrupted_backfill_resumes_without_gaps_or_duplicates(
    services: Services, ledger: Ledger
) -> None:
    """A sync that dies after its first committed page resumes from the cursor and converges."""
    address = ledger.solana_wallets[3]  # the 2,300-transaction wallet: three signature pages
    wallet = await _track(services, Chain.SOLANA, address)

    class Crash(Exception):
        pass

    def crash_after_first_page(new: int, seen: int) -> None:
        raise Crash(f"stopped after {new} new")

    with pytest.raises(Crash):
        await sync_wallet(
            services.db,
            wallet.id,
            adapters=services.adapters,
            settings=services.settings,
            progress=crash_after_first_page,
        )
    partial = await linked_tx_ids(services.db, wallet.id)
    assert 0 < len(partial) < len(ledger.wallet_tx_ids(Chain.SOLANA, address))
    async with services.db.read() as conn:
        state = (await conn.execute(select(sync_state).where(sync_state.c.wallet_id == wallet.id))).one()
    assert state.status == "error"
    assert "Crash" in state.error
    report = await sync_wallet(services.db, wallet.id, adapters=services.adapters, settings=services.settings)
    final = await linked_tx_ids(services.db, wallet.id)
    assert Counter(final) == Counter(ledger.wallet_tx_ids(Chain.SOLANA, address))
    assert report.new_transactions == len(final) - len(partial)
    assert await _count(services, TX_EVENTS) == len(final)


async def test_two_syncs_of_one_wallet_never_overlap(services: Services, ledger: Ledger) -> None:
    """While one sync holds a wallet, another gets WalletBusyError at once; other wallets proceed."""
    first = await _track(services, Chain.SOLANA, ledger.solana_wallets[0])
    second = await _track(services, Chain.SOLANA, ledger.solana_wallets[2])
    async with wallet_lock(services.db, first.id):
        with pytest.raises(WalletBusyError):
            await sync_wallet(services.db, first.id, adapters=services.adapters, settings=services.settings)
        report = await sync_wallet(
            services.db, second.id, adapters=services.adapters, settings=services.settings
        )
        assert report.new_transactions > 0
    results = await asyncio.gather(
        *(
            sync_wallet(services.db, first.id, adapters=services.adapters, settings=services.settings)
            for _ in range(3)
        ),
        return_exceptions=True,
    )
    assert sum(isinstance(r, WalletBusyError) for r in results) >= 1
    assert [r for r in results if not isinstance(r, WalletBusyError | Exception)]
    ids = await linked_tx_ids(services.db, first.id)
    assert Counter(ids) == Counter(ledger.wallet_tx_ids(Chain.SOLANA, ledger.solana_wallets[0]))


async def test_malformed_upstream_body_fails_readably_and_writes_nothing(
    services: Services, ledger: Ledger, simulator: SimulatorServer
) -> None:
    """Every Blockfrost body malformed: the sync fails with a readable error and stores no fact."""
    wallet = await _track(services, Chain.CARDANO, ledger.cardano_wallets[2])
    simulator.set_faults(FaultConfig(providers={"blockfrost": FaultRule(malformed_rate=1.0)}))
    try:
        with pytest.raises(ProviderError) as caught:
            await sync_wallet(services.db, wallet.id, adapters=services.adapters, settings=services.settings)
    finally:
        simulator.set_faults(FaultConfig())
    # Malformed bodies are retried, then open the endpoint's breaker: the error says which provider.
    assert isinstance(caught.value, MalformedResponseError | ProviderUnavailableError)
    assert "blockfrost" in str(caught.value)
    assert await _count(services, transactions) == 0
    assert await _count(services, wallet_transactions) == 0
    assert await _count(services, TX_EVENTS) == 0
    async with services.db.read() as conn:
        state = (await conn.execute(select(sync_state).where(sync_state.c.wallet_id == wallet.id))).one()
    assert state.status == "error"
    assert state.error.startswith(f"{type(caught.value).__name__}: blockfrost:")
    assert "not JSON" in state.error  # what went wrong upstream, not just "breaker open"
    assert state.cursor is None


async def test_token_accounts_no_longer_listed_are_found_from_the_owners_transactions(
    services: Services, ledger: Ledger
) -> None:
    """Token accounts the RPC no longer lists (the simulator closes some after use) but the owner's
    transactions name are still scanned, so transfers into them, listed only under them, are indexed."""
    solana = services.adapters.solana
    assert solana is not None
    address = ledger.solana_wallets[0]
    closed = set(ledger.solana_token_accounts(address, closed=True).values())
    assert closed  # the wallet closed token accounts
    assert {a.account for a in await solana.token_accounts(address)}.isdisjoint(closed)

    wallet = await _track(services, Chain.SOLANA, address)
    await sync_wallet(services.db, wallet.id, adapters=services.adapters, settings=services.settings)
    ids = await linked_tx_ids(services.db, wallet.id)
    assert Counter(ids) == Counter(ledger.wallet_tx_ids(Chain.SOLANA, address))
    async with services.db.read() as conn:
        cursor = (
            await conn.execute(select(sync_state.c.cursor).where(sync_state.c.wallet_id == wallet.id))
        ).scalar_one()
    assert closed <= set(cursor["addresses"])


@pytest.mark.parametrize("chain", [Chain.SOLANA, Chain.CARDANO])
async def test_raw_bodies_are_stored_as_the_provider_sent_them(
    services: Services, ledger: Ledger, simulator: SimulatorServer, chain: Chain
) -> None:
    """Each stored raw body is the provider's own answer for that transaction, asked for here
    directly over HTTP (Solana's getTransaction result; Blockfrost's transaction and its UTXOs)."""
    address = ledger.solana_wallets[0] if chain is Chain.SOLANA else ledger.cardano_wallets[0]
    wallet = await _track(services, chain, address)
    await sync_wallet(services.db, wallet.id, adapters=services.adapters, settings=services.settings)
    async with services.db.read() as conn:
        stored = {
            row.tx_id: orjson.loads(row.raw)
            for row in await conn.execute(
                select(transactions.c.tx_id, transactions.c.raw.cast(Text).label("raw")).where(
                    transactions.c.chain == chain.value
                )
            )
        }
    assert set(stored) == ledger.wallet_tx_ids(chain, address)
    async with httpx.AsyncClient() as http:
        for tx_id in sorted(stored)[:5]:
            if chain is Chain.SOLANA:
                answer = await http.post(
                    simulator.url("solana"),
                    json={
                        "jsonrpc": "2.0",
                        "id": 1,
                        "method": "getTransaction",
                        "params": [tx_id, {"encoding": "jsonParsed", "maxSupportedTransactionVersion": 0}],
                    },
                )
                expected = answer.json()["result"]
            else:
                base = f"{simulator.url('blockfrost')}/txs/{tx_id}"
                expected = {
                    "tx": (await http.get(base)).json(),
                    "utxos": (await http.get(f"{base}/utxos")).json(),
                }
            assert stored[tx_id] == expected, tx_id
