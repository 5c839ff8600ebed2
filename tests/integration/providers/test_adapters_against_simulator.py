"""The three adapters over real HTTP through `ResilientClient` against the simulator, checked against its ledger.

Whole wallet histories are listed and normalized, and the deltas are summed: they must reproduce the
balances the simulator's ground truth holds (and what the balance endpoints report).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import pytest

from walletsync.config import ProviderConfig
from walletsync.providers import cardano, solana, twelvedata
from walletsync.providers.cardano import CardanoAdapter
from walletsync.providers.http import ResilientClient
from walletsync.providers.solana import SolanaAdapter
from walletsync.providers.twelvedata import TwelveDataAdapter
from walletsync.providers.types import NATIVE, ChainTx, ErrorClassifier, TxRef
from walletsync.simulator import Ledger, SimulatorServer

pytestmark = pytest.mark.slow

LEDGER_SEED = 11


@pytest.fixture(scope="module")
def ledger() -> Ledger:
    return Ledger(LEDGER_SEED, solana_wallets=3, cardano_wallets=3, txs_per_wallet=(20, 40))


@pytest.fixture(scope="module")
def simulator(ledger: Ledger) -> Iterator[SimulatorServer]:
    with SimulatorServer(ledger=ledger) as server:
        yield server


def client(simulator: SimulatorServer, name: str, classify: ErrorClassifier) -> ResilientClient:
    config = ProviderConfig(
        name=name,
        urls=(simulator.url(name),),
        api_key=None,
        rate=10_000.0,
        burst=1000,
        max_concurrency=8,
        timeout_s=10.0,
        max_attempts=2,
        backoff_initial_s=0.05,
        backoff_max_s=0.5,
        breaker_failure_threshold=5,
        breaker_cooldown_s=1.0,
        metadata_cache_ttl_s=60.0,
    )
    return ResilientClient(config, classify=classify)


@pytest.fixture
async def solana_adapter(simulator: SimulatorServer) -> AsyncIterator[SolanaAdapter]:
    async with client(simulator, "solana", solana.classify_error) as http:
        yield SolanaAdapter(http)


@pytest.fixture
async def cardano_adapter(simulator: SimulatorServer) -> AsyncIterator[CardanoAdapter]:
    async with client(simulator, "blockfrost", cardano.classify_error) as http:
        yield CardanoAdapter(http)


@pytest.fixture
async def twelvedata_adapter(simulator: SimulatorServer) -> AsyncIterator[TwelveDataAdapter]:
    async with client(simulator, "twelvedata", twelvedata.classify_error) as http:
        yield TwelveDataAdapter(http)


def owner_sums(txs: list[ChainTx], owner: str) -> dict[str, int]:
    sums: Counter[str] = Counter()
    for tx in txs:
        for delta in tx.deltas_for({owner}):
            sums[delta.asset] += delta.amount
    return {asset: amount for asset, amount in sums.items() if amount}


async def all_signatures(adapter: SolanaAdapter, address: str, page: int = 25) -> list[TxRef]:
    refs: list[TxRef] = []
    before = None
    while True:
        batch = await adapter.signatures(address, before=before, limit=page)
        refs += batch
        if len(batch) < page:
            return refs
        before = batch[-1].tx_id


async def test_solana_histories_reproduce_every_balance(
    solana_adapter: SolanaAdapter, ledger: Ledger
) -> None:
    """For each wallet: listed signatures cover its history, and summed deltas equal lamports and token balances."""
    for wallet in ledger.solana_wallets:
        accounts = await solana_adapter.token_accounts(wallet)
        assert {a.mint: a.account for a in accounts} == ledger.solana_token_accounts(wallet)
        balances = ledger.solana_token_balances(wallet)
        assert {a.mint: a.amount for a in accounts} == {a.mint: balances[a.mint] for a in accounts}
        closed = ledger.solana_token_accounts(wallet, closed=True)
        assert all(balances[mint] == 0 for mint in closed)  # emptied before closing

        refs = await all_signatures(solana_adapter, wallet)
        for account in [*(a.account for a in accounts), *closed.values()]:
            refs += await all_signatures(solana_adapter, account)
        signatures = sorted({r.tx_id for r in refs})
        assert ledger.wallet_tx_ids("solana", wallet) <= set(signatures)
        txs = [
            tx
            for i in range(0, len(signatures), 40)
            for tx in await solana_adapter.transactions(signatures[i : i + 40])
        ]
        assert [tx.tx_id for tx in txs] == signatures
        assert {r.tx_id for r in refs if r.failed} == {tx.tx_id for tx in txs if not tx.success}

        sums = owner_sums(txs, wallet)
        balance = await solana_adapter.balance(wallet)
        assert sums.pop(NATIVE, 0) == ledger.solana_lamports(wallet) == balance
        assert sums == {
            mint: amount for mint, amount in ledger.solana_token_balances(wallet).items() if amount
        }


async def test_solana_mints_and_slot(solana_adapter: SolanaAdapter, ledger: Ledger) -> None:
    """Every mint's decimals come back from getAccountInfo; the slot is positive."""
    for mint, decimals in ledger.solana_mints.items():
        assert (await solana_adapter.mint_info(mint)).decimals == decimals
    assert await solana_adapter.slot() > 0


async def test_cardano_histories_reproduce_every_balance(
    cardano_adapter: CardanoAdapter, ledger: Ledger
) -> None:
    """Paging with `after` lists each history once, oldest first; summed deltas equal the address's holdings."""
    for wallet in ledger.cardano_wallets:
        refs: list[TxRef] = []
        after: tuple[int, int] | None = None
        while page := await cardano_adapter.transactions_page(wallet, after=after, count=7):
            refs += page
            after = (page[-1].height, page[-1].index)
        positions = [(r.height, r.index) for r in refs]
        assert positions == sorted(set(positions))
        assert {r.tx_id for r in refs} == ledger.wallet_tx_ids("cardano", wallet)

        txs = [await cardano_adapter.transaction(r.tx_id) for r in refs]
        expected = {
            (NATIVE if unit == "lovelace" else unit): q for unit, q in ledger.cardano_amounts(wallet).items()
        }
        assert owner_sums(txs, wallet) == expected
        held = {h.asset: h.amount for h in await cardano_adapter.address_amounts(wallet) if h.amount}
        assert held == expected


async def test_cardano_assets_and_tip(cardano_adapter: CardanoAdapter, ledger: Ledger) -> None:
    """Every native asset's decimals (None without registry metadata); the tip height is positive."""
    for unit, decimals in ledger.cardano_assets.items():
        assert (await cardano_adapter.asset(unit)).decimals == decimals
    assert await cardano_adapter.tip_height() > 0


@pytest.mark.parametrize(
    ("symbol", "zone", "interval"),
    [
        ("SOL/USD", None, "1h"),
        ("SOL/USD", None, "1day"),
        ("AAPL", "America/New_York", "1h"),
        ("AAPL", "America/New_York", "1day"),
    ],
)
async def test_time_series_matches_the_ledger(
    twelvedata_adapter: TwelveDataAdapter, ledger: Ledger, symbol: str, zone: str | None, interval: str
) -> None:
    """Latest bars and a [start, end) window equal the simulator's series, in UTC, oldest first."""
    truth = ledger.candles(symbol, interval)

    latest = await twelvedata_adapter.time_series(symbol, interval, outputsize=20)
    window = await twelvedata_adapter.time_series(
        symbol, interval, start=truth[-30].ts, end=truth[-20].ts, exchange_timezone=zone
    )

    def key(c: Any) -> tuple[Any, ...]:
        return (c.ts, c.open, c.high, c.low, c.close, c.volume)

    assert [key(c) for c in latest] == [key(c) for c in truth[-20:]]
    assert [key(c) for c in window] == [key(c) for c in truth[-30:-20]]
    assert all(c.ts.utcoffset() == timedelta(0) for c in latest)


async def test_start_alone_gives_the_latest_bars_of_the_range(
    twelvedata_adapter: TwelveDataAdapter, ledger: Ledger
) -> None:
    """With only `start`, a full page is the newest `outputsize` bars; paging back with `end` fills the rest."""
    truth = ledger.candles("BTC/USD", "1h")
    start = truth[-25].ts

    newest = await twelvedata_adapter.time_series("BTC/USD", "1h", start=start, outputsize=10)
    older = await twelvedata_adapter.time_series(
        "BTC/USD", "1h", start=start, end=newest[0].ts, outputsize=10
    )

    assert [c.ts for c in newest] == [c.ts for c in truth[-10:]]
    assert [c.ts for c in older] == [c.ts for c in truth[-20:-10]]


async def test_catalogs(twelvedata_adapter: TwelveDataAdapter, ledger: Ledger) -> None:
    """Exchanges, crypto exchanges, crypto pairs (quote filter) and stocks list what the simulator serves."""
    exchanges = await twelvedata_adapter.exchanges()
    assert any(e.name == "NASDAQ" and e.timezone == "America/New_York" for e in exchanges)
    assert {e.kind for e in await twelvedata_adapter.crypto_exchanges()} == {"crypto"}
    pairs = {p.symbol: p for p in await twelvedata_adapter.cryptocurrencies(currency_quote="USD")}
    assert {"BTC/USD", "SOL/USD", "ADA/USD"} <= set(pairs)
    assert (pairs["SOL/USD"].currency_base, pairs["SOL/USD"].currency_quote) == ("SOL", "USD")
    stocks = {s.symbol for s in await twelvedata_adapter.stocks(exchange="NASDAQ")}
    assert "AAPL" in stocks
