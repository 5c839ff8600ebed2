"""The resilient client against the simulator: 5xx, timeouts and a dead endpoint, yet every transaction, no 429.

The simulator runs in its own process (as a provider would), enforcing a token bucket at request arrival
and counting every request that arrives over it. The client is configured with that same limit.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from walletsync.config import ProviderConfig
from walletsync.providers.breaker import BreakerState
from walletsync.providers.endpoints import display_name
from walletsync.providers.http import ResilientClient
from walletsync.providers.solana import classify_error
from walletsync.simulator import FaultConfig, FaultRule, Ledger, Outage, RateLimit, SimulatorServer

pytestmark = pytest.mark.slow

LEDGER = {"seed": 7, "solana_wallets": 0, "cardano_wallets": 0, "exact_solana_wallets": [500]}
RATE, BURST = 200.0, 20


async def test_500_transactions_through_faults_arrive_exactly_once_without_violations() -> None:
    """20% 5xx, 10% hangs past a 0.5 s timeout, one of three URLs down: all 500 txs, once each, 0 violations."""
    ledger = Ledger(**LEDGER)  # the same seed builds the same ledger as the simulator's child process
    (wallet,) = ledger.solana_wallets
    signatures = sorted(ledger.wallet_tx_ids("solana", wallet))
    assert len(signatures) == 500
    faults = FaultConfig(
        seed=3,
        providers={"solana": FaultRule(latency_ms=(1.0, 5.0), fail_rate=0.2, timeout_rate=0.1, hang_s=1.0)},
        outages=[Outage(provider="solana", endpoint=2, mode="close")],
        rate_limits={"solana": RateLimit(rate=RATE, burst=BURST)},
    )
    with SimulatorServer(faults=faults, ledger_kwargs=LEDGER, process=True) as sim:
        config = ProviderConfig(
            name="solana",
            urls=tuple(sim.urls("solana", 3)),
            api_key=None,
            rate=RATE,
            burst=BURST,
            max_concurrency=16,
            timeout_s=0.5,
            max_attempts=15,  # at ~30% failing attempts, 15 leave ~1e-8 per call
            backoff_initial_s=0.05,
            backoff_max_s=1.0,
            breaker_failure_threshold=5,
            breaker_cooldown_s=1.0,
            metadata_cache_ttl_s=60.0,
        )
        async with ResilientClient(config, classify=classify_error) as client:

            async def fetch(signature: str) -> Any:
                body = {
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "getTransaction",
                    "params": [signature, {"encoding": "json", "maxSupportedTransactionVersion": 0}],
                }
                reply = await client.post_json("", body=body)
                return reply["result"]

            results = await asyncio.gather(*(fetch(signature) for signature in signatures))
            by_name = {display_name(url): url.rsplit("/", 2)[-2] for url in config.urls}
            health = {by_name[state.url]: state for state in client.snapshot()}
        stats = sim.stats()

    fetched = Counter(result["transaction"]["signatures"][0] for result in results)
    assert sorted(fetched) == signatures
    assert set(fetched.values()) == {1}
    assert stats["violations"]["solana"] == 0
    # The faults really happened, and the dead endpoint was mostly avoided by its breaker.
    assert stats["faults"]["server_error"] > 50
    assert stats["faults"]["timeout"] > 20
    assert stats["faults"]["outage"] >= 5
    assert stats["endpoints"].get("solana/2", 0) < 0.1 * stats["requests"]["solana"]
    assert health["e2"].breaker_state in (BreakerState.OPEN, BreakerState.HALF_OPEN)
    assert health["e2"].consecutive_failures >= 5
