"""Provider response bodies are freed as soon as they are decoded, not at the garbage collector's
next full pass.

An httpx response and its stream refer to each other, so the response object itself waits for the
collector; a body left on it (`response.content`) waited with it. Long indexing processes raise the
collector's thresholds (`runtime.tune_gc_for_throughput`), and a 100,000-transaction backfill grew
by about 2.5 MB per 1,000 transactions between full passes. Here the collector is off altogether:
what the calls leave allocated must be under half of the bodies they received (it was more
than all of them: 3.0 MB left of 2.5 MB received).
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Iterator

import orjson
import pytest

from tests.unit.providers.client_fakes import make_config
from walletsync.config import Chain
from walletsync.providers import solana
from walletsync.providers.http import ResilientClient
from walletsync.simulator import Ledger, SimulatorServer

CALLS = 20


@pytest.fixture(scope="module")
def ledger() -> Ledger:
    return Ledger(13, solana_wallets=1, cardano_wallets=0, txs_per_wallet=(60, 60))


@pytest.fixture(scope="module")
def simulator(ledger: Ledger) -> Iterator[SimulatorServer]:
    with SimulatorServer(ledger=ledger) as server:
        yield server


@pytest.fixture
def collector_off() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


async def test_decoded_bodies_do_not_wait_for_the_garbage_collector(
    simulator: SimulatorServer, ledger: Ledger, collector_off: None
) -> None:
    config = make_config(urls=(simulator.url("solana"),), timeout_s=10.0, max_attempts=2)
    signatures = sorted(ledger.wallet_tx_ids(Chain.SOLANA, ledger.solana_wallets[0]))
    batch = [
        {
            "jsonrpc": "2.0",
            "id": n,
            "method": "getTransaction",
            "params": [signature, {"encoding": "jsonParsed", "maxSupportedTransactionVersion": 0}],
        }
        for n, signature in enumerate(signatures, start=1)
    ]
    async with ResilientClient(config, classify=solana.classify_error) as client:
        await client.post_json(solana.RPC_PATH, body=batch, cost=len(batch))  # connections and caches warm
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            received = 0
            for _ in range(CALLS):
                body = await client.post_json(solana.RPC_PATH, body=batch, cost=len(batch))
                received += len(orjson.dumps(body))
                del body
            left = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
    assert received > 1_000_000  # 20 bodies of 60 transactions
    # What stays is the small cyclic httpx objects of each call (request, response, streams).
    assert left < received / 2, f"{left:,} bytes still allocated after receiving {received:,}"
