"""What the provider client itself adds to a burst: 160 Blockfrost calls at concurrency 100, 200 ms each.

This is the transaction-fetch phase of `bench/sync_latency.py` (80 transactions, each `/txs/{hash}`
and `/txs/{hash}/utxos`) without the database: the resilient client (`providers.http`, aiohttp under
it: `providers.wire_aiohttp`) against the simulator in its own process, with Blockfrost's limits
enforced there (10/s, burst 500). The bound is latency and concurrency alone: ceil(160 / 100) round
trips of 200 ms = 0.4 s. What is above it is the client's CPU, which is on the critical path: each
answer of the first wave must be processed before the request it frees can start.

History (2-core VM, quiet; docs/benchmarks.md): over httpx 0.28.1 / httpcore 1.0.9 the client took
0.65-0.75 s and 1.9-2.5 ms of CPU per call; a bare aiohttp session 0.43-0.45 s and 0.4 ms. Over
aiohttp with `trust_env` (proxy variables read in a thread on every request) 0.55 s and 1.0 ms;
reading them once per endpoint, 0.45-0.48 s and 0.42 ms.

Usage: `.venv/bin/python bench/http_burst.py [--runs 5]`. The last line of output is one JSON object:
{"burst_s": .., "bound_s": .., "ratio_to_bound": .., "client_cpu_s": .., "cpu_ms_per_call": ..,
 "violations": .., "runs_s": [..]}
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import time

from walletsync.config import load_settings
from walletsync.logs import configure_logging
from walletsync.providers.cardano import classify_error
from walletsync.providers.http import ResilientClient
from walletsync.simulator import FaultConfig, FaultRule, Ledger, RateLimit, SimulatorServer

LATENCY_MS = 200.0
N_TXS = 80
CONCURRENCY = 100


async def run(runs: int) -> dict[str, object]:
    ledger_kwargs = {"seed": 23, "solana_wallets": 0, "cardano_wallets": 0, "exact_cardano_wallets": [N_TXS]}
    ledger = Ledger(**ledger_kwargs)  # the same ledger the simulator process builds
    address = ledger.cardano_wallets[0]
    hashes = sorted(ledger.wallet_tx_ids("cardano", address))
    assert len(hashes) == N_TXS, len(hashes)
    paths = [f"/txs/{tx_hash}{suffix}" for tx_hash in hashes for suffix in ("", "/utxos")]
    faults = FaultConfig(
        providers={"blockfrost": FaultRule(latency_ms=LATENCY_MS)},
        rate_limits={"blockfrost": RateLimit(rate=10.0, burst=500)},
    )
    times, cpus, violations = [], [], 0
    with SimulatorServer(faults=faults, ledger_kwargs=ledger_kwargs, process=True) as sim:
        # Configured as a sync's client is (sync_latency.py's settings), defaults included.
        config = load_settings(
            blockfrost_urls=[sim.url("blockfrost")],
            blockfrost_rate=10.0,
            blockfrost_burst=500,
            blockfrost_max_concurrency=CONCURRENCY,
        ).provider_config("blockfrost")
        for _ in range(runs):  # a new client each run: connections are opened as a sync's would be
            sim.reset()
            async with ResilientClient(config, classify=classify_error) as client:
                started, cpu_started = time.perf_counter(), time.process_time()
                bodies = await asyncio.gather(*(client.get_json(path) for path in paths))
                times.append(time.perf_counter() - started)
                cpus.append(time.process_time() - cpu_started)
            assert len(bodies) == len(paths)
            violations += int(sim.stats()["violations"].get("blockfrost", 0))
    bound_s = math.ceil(len(paths) / CONCURRENCY) * LATENCY_MS / 1000
    burst_s, cpu_s = statistics.median(times), statistics.median(cpus)
    print(
        f"{len(paths)} calls at concurrency {CONCURRENCY}, {LATENCY_MS:.0f} ms each (simulator in its own process)"
    )
    print(f"last answer after {burst_s:.3f} s (median of {' '.join(f'{t:.3f}' for t in times)})")
    print(f"bound {bound_s:.3f} s; client CPU {cpu_s:.3f} s = {1000 * cpu_s / len(paths):.2f} ms per call")
    return {
        "burst_s": round(burst_s, 3),
        "bound_s": round(bound_s, 3),
        "ratio_to_bound": round(burst_s / bound_s, 2),
        "client_cpu_s": round(cpu_s, 3),
        "cpu_ms_per_call": round(1000 * cpu_s / len(paths), 2),
        "violations": violations,
        "runs_s": [round(t, 3) for t in times],
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--runs", type=int, default=5, help="bursts, each with a new client; the median is reported"
    )
    args = parser.parse_args()
    configure_logging("WARNING", "console")
    print(json.dumps(asyncio.run(run(args.runs))))
