"""Event delivery under a 10,000-transaction sync: one webhook receiver and one SSE client.

Processes, as deployed: this one syncs the wallet (a worker's job); the relay runs in a
`walletsync worker --queue maintenance` process (or in this one with `--relay-in-process`, as
`walletsync serve` does); the API runs as `walletsync api` and serves the SSE stream; the receiver
(`_webhook_receiver.py`, verifying every signature with `standardwebhooks`) and the simulator run in
their own. Latency is from the commit of the page that wrote a `tx.indexed` event (the sync's progress
callback runs right after each page's transaction commits) to its arrival; the same from the event's
`timestamp` (the start of that transaction, so an upper bound) is printed for every event.

Lost = events in the outbox that never arrived; duplicates = arrivals beyond one per event. One
wallet means one ordered queue: webhook deliveries to it go one at a time (per-wallet order), so
`webhook_events_per_s` is the sequential rate of a single queue.

Usage: `.venv/bin/python bench/events.py [--transactions 10000] [--admin-url ...]`
The last line of output is one JSON object:
{"events", "webhook_events_per_s", "webhook_p99_ms", "sse_p99_ms", "lost", "duplicates", ...}
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from _support import DEFAULT_ADMIN_URL, unthrottled_solana
from walletsync.api.keys import create_key
from walletsync.config import Chain
from walletsync.db.models import outbox
from walletsync.events import registry
from walletsync.events.relay import start_relay, stop_relay
from walletsync.indexing.sync import sync_wallet
from walletsync.logs import configure_logging
from walletsync.runtime import tune_gc_for_throughput
from walletsync.services import open_services
from walletsync.wallets.repository import add_wallet

HERE = Path(__file__).resolve().parent
TARGETS = {"webhook_events_per_s": 2000, "webhook_p99_ms": 1000, "sse_p99_ms": 500}
DRAIN_TIMEOUT_S = 300


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def commit_times(tx_rows: Sequence[Any], commits: dict[int, list[tuple[int, float]]]) -> dict[str, float]:
    """Event id -> commit time of the page that wrote it: a wallet's k-th tx.indexed event (by id)
    belongs to the first page whose running count of new transactions reaches k."""
    seen: dict[int, int] = {}
    out: dict[str, float] = {}
    for event_id, wallet_id in tx_rows:
        k = seen[wallet_id] = seen.get(wallet_id, 0) + 1
        pages = commits.get(wallet_id, [])
        index = bisect.bisect_left([n for n, _ in pages], k)
        if index < len(pages):
            out[str(event_id)] = pages[index][1]
    return out


def spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(args, env=env)


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else 0.0


async def wait_http(url: str) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            try:
                await client.get(url)
                return
            except httpx.TransportError:
                await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


async def sse_client(
    url: str, key: str, arrivals: list[tuple[str, float, float]], ready: asyncio.Event
) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(30, read=None)) as client,
        client.stream("GET", url, headers=headers) as response,
    ):
        response.raise_for_status()
        async for line in response.aiter_lines():
            if line.startswith(":"):
                ready.set()
            elif line.startswith("data:"):
                arrived = time.time()
                event = json.loads(line[5:])
                stamp = datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00")).timestamp()
                arrivals.append((event["id"], stamp, arrived))


async def run(
    admin_url: str, n_txs: int, n_wallets: int, *, in_process: bool
) -> dict[str, float | int | str]:
    configure_logging("WARNING", "console")
    tune_gc_for_throughput()
    per_wallet = [n_txs // n_wallets] * n_wallets
    with unthrottled_solana(
        admin_url,
        "bench_events",
        per_wallet,
        webhook_allow_private=True,
        events_stream_buffer=100_000,
    ) as (simulator, database_url, settings):
        addresses = [w["address"] for w in simulator.wallets()["solana"]][:n_wallets]
        receiver_port, api_port = free_port(), free_port()
        async with open_services(settings, database_url) as services:
            async with services.db.write() as conn:
                tracked = [await add_wallet(conn, chain=Chain.SOLANA, address=a) for a in addresses]
                hook = await registry.create_webhook(conn, url=f"http://127.0.0.1:{receiver_port}/hook")
                key = (await create_key(conn, name="bench", scope="read")).key
            env = {**os.environ, "WEBHOOK_SECRET": hook.secret}
            receiver = spawn(
                [sys.executable, str(HERE / "_webhook_receiver.py"), "--port", str(receiver_port)], env
            )
            api_env = {
                **os.environ,
                "DATABASE_URL": database_url,
                "WALLETSYNC_DATA_DIR": str(settings.data_dir),
                "WALLETSYNC_AUTO_MIGRATE": "false",
                "WALLETSYNC_LOG_LEVEL": "WARNING",
                "WALLETSYNC_EVENTS_STREAM_BUFFER": "100000",
            }
            api = spawn([sys.executable, "-m", "walletsync.cli", "api", "--port", str(api_port)], api_env)
            relay_env = {
                **api_env,
                "WALLETSYNC_WEBHOOK_ALLOW_PRIVATE": "true",
                "WALLETSYNC_WORKER_CONCURRENCY": "1",
            }
            relay = (
                None
                if in_process
                else spawn(
                    [sys.executable, "-m", "walletsync.cli", "worker", "--queue", "maintenance"], relay_env
                )
            )
            local_relay = start_relay(services.db, settings) if in_process else None
            sse_arrivals: list[tuple[str, float, float]] = []
            try:
                await wait_http(f"http://127.0.0.1:{receiver_port}/results")
                await wait_http(f"http://127.0.0.1:{api_port}/healthz")
                ready = asyncio.Event()
                sse = asyncio.create_task(
                    sse_client(f"http://127.0.0.1:{api_port}/v1/events/stream", key, sse_arrivals, ready)
                )
                await asyncio.wait_for(ready.wait(), 30)
                started = time.perf_counter()
                commits: dict[int, list[tuple[int, float]]] = {w.id: [] for w in tracked}

                def committed(wallet_id: int) -> Callable[[int, int], None]:
                    # Called right after each page's transaction commits: (new so far, seen so far).
                    return lambda new, seen: commits[wallet_id].append((new, time.time()))

                reports = await asyncio.gather(
                    *(
                        sync_wallet(
                            services.db,
                            w.id,
                            adapters=services.adapters,
                            settings=settings,
                            progress=committed(w.id),
                        )
                        for w in tracked
                    )
                )
                synced_s = time.perf_counter() - started
                async with services.db.primary.connect() as conn:
                    expected = {str(i) for i in (await conn.execute(select(outbox.c.id))).scalars()}
                    tx_rows = (
                        await conn.execute(
                            select(outbox.c.id, outbox.c.payload["wallet_id"].as_integer())
                            .where(outbox.c.topic == "tx.indexed")
                            .order_by(outbox.c.id)
                        )
                    ).all()
                commit_at = commit_times(tx_rows, commits)
                new = sum(r.new_transactions for r in reports)
                print(
                    f"synced {new} transactions ({n_wallets} wallet(s)) in {synced_s:.1f} s; {len(expected)} events"
                )
                deadline = time.monotonic() + DRAIN_TIMEOUT_S
                async with httpx.AsyncClient() as client:
                    while True:
                        got = (await client.get(f"http://127.0.0.1:{receiver_port}/results")).json()
                        hooked = got["arrivals"]
                        if (
                            len({a[0] for a in hooked}) >= len(expected)
                            and len(sse_arrivals) >= len(expected)
                        ) or time.monotonic() > deadline:
                            break
                        await asyncio.sleep(0.5)
                sse.cancel()
                await asyncio.gather(sse, return_exceptions=True)
                async with services.db.primary.connect() as conn:
                    delays = [
                        float(d)
                        for d in (
                            await conn.execute(
                                select(func.extract("epoch", outbox.c.published_at - outbox.c.created_at))
                            )
                        ).scalars()
                    ]
            finally:
                await stop_relay(local_relay)
                for process in (receiver, api, *([relay] if relay else [])):
                    process.terminate()
                    process.wait(timeout=30)
    hook_ids = [a[0] for a in hooked]
    sse_ids = [a[0] for a in sse_arrivals]
    # Commit to arrival, for tx.indexed (whose page commit time is known); all events from `timestamp`.
    hook_lat = [(a[2] - commit_at[a[0]]) * 1000 for a in hooked if a[0] in commit_at]
    sse_lat = [(a[2] - commit_at[a[0]]) * 1000 for a in sse_arrivals if a[0] in commit_at]
    hook_stamp_lat = [(a[2] - a[1]) * 1000 for a in hooked]
    sse_stamp_lat = [(a[2] - a[1]) * 1000 for a in sse_arrivals]
    span = max(a[2] for a in hooked) - min(a[2] for a in hooked) if len(hooked) > 1 else 1.0
    figures: dict[str, float | int | str] = {
        "events": len(expected),
        "webhook_events_per_s": round(len(hooked) / span),
        "webhook_p99_ms": round(p99(hook_lat), 1),
        "sse_p99_ms": round(p99(sse_lat), 1),
        "lost": len(expected - set(hook_ids)) + len(expected - set(sse_ids)),
        "duplicates": (len(hook_ids) - len(set(hook_ids))) + (len(sse_ids) - len(set(sse_ids))),
        "rejected_signatures": int(got["rejected"]),
        "sync_s": round(synced_s, 2),
        "wallets": n_wallets,
        "relay": "in-process" if in_process else "worker process",
        "webhook_p50_ms": round(sorted(hook_lat)[len(hook_lat) // 2], 1) if hook_lat else 0.0,
        "sse_p50_ms": round(sorted(sse_lat)[len(sse_lat) // 2], 1) if sse_lat else 0.0,
    }
    print(
        f"webhook: {len(hooked)} arrivals over {span:.1f} s = {figures['webhook_events_per_s']} events/s "
        f"(target >= {TARGETS['webhook_events_per_s']}); latency p50 {figures['webhook_p50_ms']} ms, "
        f"p99 {figures['webhook_p99_ms']} ms (target < {TARGETS['webhook_p99_ms']})"
    )
    print(
        f"sse: {len(sse_arrivals)} arrivals; latency p50 {figures['sse_p50_ms']} ms, p99 {figures['sse_p99_ms']} ms "
        f"(target < {TARGETS['sse_p99_ms']})"
    )
    print(
        f"from the writing transaction's start (all events, an upper bound): webhook p99 "
        f"{p99(hook_stamp_lat):.0f} ms, sse p99 {p99(sse_stamp_lat):.0f} ms"
    )
    print(
        f"publish delay (outbox written -> published by the relay): p50 "
        f"{sorted(delays)[len(delays) // 2] * 1000:.0f} ms, p99 {p99(delays) * 1000:.0f} ms"
    )
    print(
        f"lost {figures['lost']} (target 0), duplicates {figures['duplicates']}, bad signatures {figures['rejected_signatures']}"
    )
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--admin-url", default=DEFAULT_ADMIN_URL)
    parser.add_argument("--transactions", type=int, default=10_000)
    parser.add_argument(
        "--wallets",
        type=int,
        default=1,
        help="split the transactions over this many wallets (ordered queues)",
    )
    parser.add_argument(
        "--relay-in-process",
        action="store_true",
        help="run the relay in the syncing process (as `serve` does) instead of a `worker --queue maintenance`",
    )
    args = parser.parse_args()
    figures = asyncio.run(
        run(args.admin_url, args.transactions, args.wallets, in_process=args.relay_in_process)
    )
    print(json.dumps(figures))
