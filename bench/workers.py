"""Many worker processes, one provider limit: 1, 2 and 4 `walletsync worker` processes sharing Redis.

The simulator (its own process) serves 200 Solana wallets with 50 ms latency per request and enforces
a 50 calls/s token bucket (a JSON-RPC batch of N calls costs N), counting every call that arrives
over it (a "violation": a real provider answers 429 or bans). For each process count: a fresh
database with the 200 wallets, N `walletsync worker` processes started and idle, the simulator's
counters zeroed, then one sync job per wallet queued in one transaction; the run ends when no sync
job is waiting or running. The workers are told the same limit and share one bucket through Redis
(`providers/ratelimit.py`).

The limit in the same run: the calls the simulator counted divided by the limit is the least time
they could have taken (`bound_s`); `utilisation` = calls / elapsed / limit (1.0 = the limit used
every second of the run, which the client's 3% margin and the last wallet's tail keep a little
below); `wall_ratio_to_bound` = elapsed / bound_s.

Usage: `.venv/bin/python bench/workers.py [--wallets 200] [--rate 50] [--latency-ms 50]`.
The last line is one JSON object: {"utilisation_1", "utilisation_2", "utilisation_4", "violations",
"wall_ratio_to_bound_4", ...}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from _support import DEFAULT_ADMIN_URL, scratch_database
from walletsync.config import Chain, load_settings
from walletsync.db.engine import Database
from walletsync.jobs.api import defer_sync
from walletsync.jobs.tables import procrastinate_jobs
from walletsync.logs import configure_logging
from walletsync.simulator import FaultConfig, FaultRule, RateLimit, SimulatorServer
from walletsync.wallets.repository import add_wallet

BURST = 10  # the simulator's bucket and the client's: a batch of up to 10 calls at once


def _worker_env(
    database_url: str, redis_url: str, namespace: str, rpc_url: str, rate: float
) -> dict[str, str]:
    return {
        **os.environ,
        "WALLETSYNC_DATABASE_URL": database_url,
        "WALLETSYNC_REDIS_URL": redis_url,
        "WALLETSYNC_CACHE_NAMESPACE": namespace,
        "WALLETSYNC_AUTO_MIGRATE": "false",
        "WALLETSYNC_SOLANA_RPC_URLS": rpc_url,
        "WALLETSYNC_SOLANA_RATE": str(rate),
        "WALLETSYNC_SOLANA_BURST": str(BURST),
        "WALLETSYNC_SYNC_BATCH_SIZE": str(BURST),
        "WALLETSYNC_LOG_LEVEL": "WARNING",
    }


async def _queue(database_url: str, addresses: list[str]) -> list[int]:
    settings = load_settings(database_url=database_url, redis_url=None, auto_migrate=False)
    db = Database.from_settings(database_url, settings)
    try:
        async with db.write() as conn:
            ids = [(await add_wallet(conn, chain=Chain.SOLANA, address=a)).id for a in addresses]
        return ids
    finally:
        await db.dispose()


async def _defer_all(database_url: str, wallet_ids: list[int]) -> None:
    settings = load_settings(database_url=database_url, redis_url=None, auto_migrate=False)
    db = Database.from_settings(database_url, settings)
    try:
        async with db.write() as conn:  # one transaction: every job becomes visible at once
            for wallet_id in wallet_ids:
                await defer_sync(conn, wallet_id)
    finally:
        await db.dispose()


async def _pending(db: Database) -> tuple[int, int]:
    """(sync jobs waiting or running, sync jobs failed)."""
    jobs = procrastinate_jobs
    async with db.read() as conn:
        rows = dict(
            (
                await conn.execute(
                    select(jobs.c.status, func.count())
                    .where(jobs.c.task_name == "sync_wallet")
                    .group_by(jobs.c.status)
                )
            ).all()
        )
    return rows.get("todo", 0) + rows.get("doing", 0), rows.get("failed", 0)


async def _wait_done(database_url: str, timeout_s: float) -> float:
    settings = load_settings(database_url=database_url, redis_url=None, auto_migrate=False)
    db = Database.from_settings(database_url, settings)
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            pending, failed = await _pending(db)
            if pending == 0:
                if failed:
                    raise RuntimeError(f"{failed} sync jobs failed")
                return time.perf_counter()
            await asyncio.sleep(0.05)
    finally:
        await db.dispose()
    raise RuntimeError(f"sync jobs still pending after {timeout_s} s")


def run_one(
    args: argparse.Namespace, simulator: SimulatorServer, addresses: list[str], n: int
) -> dict[str, Any]:
    namespace = f"bench-workers-{uuid.uuid4().hex[:8]}"
    with scratch_database(args.admin_url, "bench_workers") as url, tempfile.TemporaryDirectory() as tmp:
        wallet_ids = asyncio.run(_queue(url, addresses))
        env = _worker_env(url, args.redis_url, namespace, simulator.url("solana"), args.rate)
        env["WALLETSYNC_DATA_DIR"] = tmp
        walletsync = str(Path(sys.executable).parent / "walletsync")
        logs = [Path(tmp) / f"worker-{i}.log" for i in range(n)]
        workers = [
            subprocess.Popen([walletsync, "worker"], env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
            for log in logs
        ]
        try:
            time.sleep(args.settle)  # started and idle: their start-up is not what is measured
            dead = [log for w, log in zip(workers, logs, strict=True) if w.poll() is not None]
            if dead:
                raise RuntimeError(f"a worker exited at start:\n{dead[0].read_text()[-2000:]}")
            simulator.reset()
            started = time.perf_counter()
            asyncio.run(_defer_all(url, wallet_ids))
            finished = asyncio.run(_wait_done(url, args.timeout))
        finally:
            for worker in workers:
                worker.terminate()
            for worker in workers:
                try:
                    worker.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    worker.kill()
        stats = simulator.stats()
    elapsed = finished - started
    calls = int(stats["calls"]["solana"])
    bound = calls / args.rate
    figures = {
        "processes": n,
        "elapsed_s": round(elapsed, 2),
        "calls": calls,
        "requests": int(stats["requests"]["solana"]),
        "violations": int(stats["violations"]["solana"]),
        "bound_s": round(bound, 2),
        "utilisation": round(calls / elapsed / args.rate, 3),
        "wall_ratio_to_bound": round(elapsed / bound, 3),
    }
    print(
        f"{n} worker process(es): {calls} calls in {elapsed:.1f} s (bound {bound:.1f} s at {args.rate:.0f}/s): "
        f"utilisation {figures['utilisation']:.3f}, wall/bound {figures['wall_ratio_to_bound']:.3f}, "
        f"{figures['violations']} violations",
        flush=True,
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--admin-url", default=DEFAULT_ADMIN_URL)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/6")
    parser.add_argument("--wallets", type=int, default=200)
    parser.add_argument("--rate", type=float, default=50.0, help="calls/s the simulator allows")
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--processes", default="1,2,4")
    parser.add_argument("--settle", type=float, default=8.0, help="seconds for idle workers to start")
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args()
    configure_logging("WARNING", "console")
    faults = FaultConfig(
        providers={"solana": FaultRule(latency_ms=args.latency_ms)},
        rate_limits={"solana": RateLimit(rate=args.rate, burst=BURST)},
    )
    ledger = {"seed": 31, "solana_wallets": args.wallets, "cardano_wallets": 0, "txs_per_wallet": (2, 8)}
    results: dict[int, dict[str, Any]] = {}
    with SimulatorServer(faults=faults, ledger_kwargs=ledger, process=True) as simulator:
        addresses = [w["address"] for w in simulator.wallets()["solana"]]
        print(
            f"{len(addresses)} wallets, {args.latency_ms:.0f} ms latency, limit {args.rate:.0f} calls/s burst {BURST}"
        )
        for n in (int(p) for p in args.processes.split(",")):
            results[n] = run_one(args, simulator, addresses, n)
    last = max(results)
    out: dict[str, Any] = {f"utilisation_{n}": r["utilisation"] for n, r in results.items()}
    out["violations"] = sum(r["violations"] for r in results.values())
    out[f"wall_ratio_to_bound_{last}"] = results[last]["wall_ratio_to_bound"]
    out["bound_s"] = {n: r["bound_s"] for n, r in results.items()}
    out["elapsed_s"] = {n: r["elapsed_s"] for n, r in results.items()}
    out["limit_calls_per_s"] = args.rate
    print(json.dumps(out))


if __name__ == "__main__":
    main()
