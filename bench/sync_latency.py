"""Time to sync an 80-transaction Cardano wallet at 200 ms per request, naive versus walletsync.

The syncs run in this one process; the simulator (its own process) adds 200 ms latency on every Blockfrost request and
Blockfrost's limits enforced at arrival (10 requests/s sustained, burst 500: a violation is a
request over the limit). Two syncs of the same wallet, side by side:

(a) naive — what the systems we replace did: list the wallet's transactions, then fetch each
    transaction and its UTxOs one call at a time with a 50 ms sleep between calls;
(b) walletsync — `indexing.sync.sync_wallet` through the resilient client into a fresh database.

The lower bound for (b) is set by latency and concurrency: one round trip for the listing (the tip
is read alongside it), then ceil(2 x 80 / WALLETSYNC_BLOCKFROST_MAX_CONCURRENCY) round trips for the
transactions; asset metadata is looked up as soon as a transaction names a new asset, so it needs
two round trips after the listing at least (the transaction, then the asset) and otherwise overlaps.
`ratio_to_bound` is walletsync's time over that bound (1.0 would be perfect).

Usage: `.venv/bin/python bench/sync_latency.py [--admin-url postgresql://postgres@127.0.0.1:5432/postgres]
[--no-naive] [--runs N]` (`--no-naive --runs 3` for side-by-side comparisons: walletsync only, three
syncs into fresh databases, the median reported). The last line of output is one JSON object:
{"naive_s": .., "walletsync_s": .., "speedup": .., "bound_s": .., "ratio_to_bound": ..,
 "walletsync_runs_s": [..], "client_cpu_s": .., "load_avg_1m": ..}
(`client_cpu_s`: this process's CPU during the sync, median; `naive_s`/`speedup` null with `--no-naive`)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import time
from pathlib import Path
from tempfile import TemporaryDirectory

import httpx

from _support import DEFAULT_ADMIN_URL, scratch_database
from walletsync.config import Chain, load_settings
from walletsync.indexing.sync import sync_wallet
from walletsync.logs import configure_logging
from walletsync.services import open_services
from walletsync.simulator import FaultConfig, FaultRule, Ledger, RateLimit, SimulatorServer
from walletsync.wallets.repository import add_wallet

LATENCY_MS = 200.0
N_TXS = 80
NAIVE_SLEEP_S = 0.05


async def naive_sync(base_url: str, address: str) -> tuple[float, int]:
    """List, then fetch every transaction and its UTxOs serially with a sleep between calls."""
    started = time.perf_counter()
    fetched = 0
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        page, hashes = 1, []
        while True:
            rows = (
                await client.get(f"/addresses/{address}/transactions", params={"page": page, "order": "asc"})
            ).json()
            hashes += [row["tx_hash"] for row in rows]
            await asyncio.sleep(NAIVE_SLEEP_S)
            if len(rows) < 100:
                break
            page += 1
        for tx_hash in hashes:
            for path in (f"/txs/{tx_hash}", f"/txs/{tx_hash}/utxos"):
                response = await client.get(path)
                response.raise_for_status()
                await asyncio.sleep(NAIVE_SLEEP_S)
            fetched += 1
    return time.perf_counter() - started, fetched


async def walletsync_sync(
    database_url: str, base_url: str, address: str, data_dir: Path
) -> tuple[float, float, int, int]:
    settings = load_settings(
        database_url=database_url,
        data_dir=data_dir,
        redis_url=None,
        auto_migrate=False,
        blockfrost_urls=[base_url],
        blockfrost_rate=10.0,
        blockfrost_burst=500,
    )
    async with open_services(settings, database_url) as services:
        async with services.db.write() as conn:
            wallet = await add_wallet(conn, chain=Chain.CARDANO, address=address)
        started, cpu_started = time.perf_counter(), time.process_time()
        report = await sync_wallet(services.db, wallet.id, adapters=services.adapters, settings=settings)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return elapsed, cpu, report.new_transactions, settings.blockfrost_max_concurrency


async def main(admin_url: str, *, naive: bool = True, runs: int = 1) -> dict[str, object]:
    configure_logging("WARNING", "console")
    ledger_kwargs = {"seed": 23, "solana_wallets": 0, "cardano_wallets": 0, "exact_cardano_wallets": [N_TXS]}
    ledger = Ledger(**ledger_kwargs)  # the same ledger the simulator process builds: for ground truth
    address = ledger.cardano_wallets[0]
    faults = FaultConfig(
        providers={"blockfrost": FaultRule(latency_ms=LATENCY_MS)},
        rate_limits={"blockfrost": RateLimit(rate=10.0, burst=500)},
    )
    has_assets = any(unit != "lovelace" for unit in ledger.cardano_amounts(address))
    # The simulator gets its own process, as a real provider is elsewhere: its CPU does not compete
    # with the client's.
    with (
        SimulatorServer(faults=faults, ledger_kwargs=ledger_kwargs, process=True) as simulator,
        TemporaryDirectory() as tmp,
    ):
        base_url = simulator.url("blockfrost")
        naive_s, naive_n = await naive_sync(base_url, address) if naive else (None, N_TXS)
        times, cpus, violations = [], [], 0
        for _ in range(runs):  # each into a fresh database, the simulator's buckets refilled
            simulator.reset()
            with scratch_database(admin_url, "bench_latency") as database_url:
                ws_s, cpu_s, ws_n, concurrency = await walletsync_sync(
                    database_url, base_url, address, Path(tmp)
                )
            violations += int(simulator.stats()["violations"].get("blockfrost", 0))
            times.append(ws_s)
            cpus.append(cpu_s)
            assert ws_n == N_TXS, ws_n
        ws_s = statistics.median(times)
    assert naive_n == N_TXS, naive_n
    rounds = 1 + max(math.ceil(2 * N_TXS / concurrency), 2 if has_assets else 0)
    bound_s = rounds * LATENCY_MS / 1000
    print(f"wallet: {N_TXS} transactions, {LATENCY_MS:.0f} ms per request, Blockfrost limits 10/s burst 500")
    if naive_s is not None:
        print(f"naive serial sync (50 ms between calls): {naive_s:.2f} s")
    runs_text = f" (median of {' '.join(f'{t:.3f}' for t in times)})" if runs > 1 else ""
    print(
        f"walletsync sync:                         {ws_s:.3f} s{runs_text}  ({violations} rate-limit violations)"
    )
    print(f"lower bound ({rounds} round trips at concurrency {concurrency}): {bound_s:.3f} s")
    return {
        "naive_s": round(naive_s, 3) if naive_s is not None else None,
        "walletsync_s": round(ws_s, 3),
        "speedup": round(naive_s / ws_s, 1) if naive_s is not None else None,
        "bound_s": round(bound_s, 3),
        "ratio_to_bound": round(ws_s / bound_s, 2),
        "walletsync_runs_s": [round(t, 3) for t in times],
        "client_cpu_s": round(statistics.median(cpus), 3),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--admin-url", default=DEFAULT_ADMIN_URL, help="PostgreSQL server to create a scratch database on"
    )
    parser.add_argument("--no-naive", action="store_true", help="skip the naive sync (40 s): walletsync only")
    parser.add_argument(
        "--runs",
        type=int,
        default=1,
        help="walletsync syncs, each into a fresh database; reports the median and every run",
    )
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.admin_url, naive=not args.no_naive, runs=args.runs))))
