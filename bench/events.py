"""Event delivery under a 10,000-transaction sync: one webhook receiver and one SSE client.

Processes, as deployed: this one syncs the wallet (a worker's job); the relay runs in a
`walletsync worker --queue maintenance` process (or in this one with `--relay-in-process`, as
`walletsync serve` does); the API runs as `walletsync api` and serves the SSE stream; the receiver
(`_webhook_receiver.py`, verifying every signature with `standardwebhooks`) and the simulator run in
their own. Latency is from the commit of the page that wrote a `tx.indexed` event (the sync's progress
callback runs right after each page's transaction commits) to its arrival; the same from the event's
`timestamp` (the start of that transaction, so an upper bound) is printed for every event.

Both delivery modes run, one after the other, each syncing its own fresh wallet(s) of
`--transactions` to its own webhook and receiver: first a batched webhook (`--batch`, 100 by
default: one signed request carries up to 100 events of the wallet), then one event per request
(the default for webhooks). One wallet means one ordered queue: requests to it go one at a time
(per-wallet order), so the per-event rate is 1 / round trip. The SSE client sees both phases.

Lost = events in the outbox that never arrived (webhook or SSE); duplicates = arrivals beyond one per
event.

Usage: `.venv/bin/python bench/events.py [--transactions 10000] [--batch 100] [--admin-url ...]`
The last line of output is one JSON object: {"events", "webhook_events_per_s", "webhook_p99_ms"
(the batched mode), "sse_p99_ms", "lost", "duplicates", "per_event_webhook_events_per_s",
"per_event_webhook_p99_ms", "targets", "load_average", ...}
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
from dataclasses import dataclass, field
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


def spawn(
    args: list[str], env: dict[str, str] | None = None, *, piped: bool = False
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE if piped else None)


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


def read_arrivals(path: Path) -> list[tuple[str, float, float]]:
    """What the SSE client process has written so far (whole lines only)."""
    if not path.exists():
        return []
    text = path.read_text()
    return [tuple(json.loads(line)) for line in text[: text.rfind("\n") + 1].splitlines()]  # type: ignore[misc]


@dataclass
class Phase:
    """One delivery mode: its wallets (fresh ones), its webhook and receiver, what arrived."""

    name: str
    batch: int
    wallets: list[Any]
    port: int = 0
    expected: set[str] = field(default_factory=set)
    commit_at: dict[str, float] = field(default_factory=dict)
    hooked: list[list[Any]] = field(default_factory=list)
    requests: int = 0
    rejected: int = 0
    synced_s: float = 0.0


async def sync_phase(phase: Phase, services: Any, settings: Any, receiver: str, sse_out: Path) -> None:
    """Sync the phase's wallets, then wait until its receiver and the SSE client have every event."""
    started = time.perf_counter()
    commits: dict[int, list[tuple[int, float]]] = {w.id: [] for w in phase.wallets}

    def committed(wallet_id: int) -> Callable[[int, int], None]:
        # Called right after each page's transaction commits: (new so far, seen so far).
        return lambda new, seen: commits[wallet_id].append((new, time.time()))

    await asyncio.gather(
        *(
            sync_wallet(
                services.db, w.id, adapters=services.adapters, settings=settings, progress=committed(w.id)
            )
            for w in phase.wallets
        )
    )
    phase.synced_s = time.perf_counter() - started
    mine = [w.id for w in phase.wallets]
    wallet_of = outbox.c.payload["wallet_id"].as_integer()
    async with services.db.primary.connect() as conn:
        phase.expected = {
            str(i) for i in (await conn.execute(select(outbox.c.id).where(wallet_of.in_(mine)))).scalars()
        }
        tx_rows = (
            await conn.execute(
                select(outbox.c.id, wallet_of)
                .where(outbox.c.topic == "tx.indexed", wallet_of.in_(mine))
                .order_by(outbox.c.id)
            )
        ).all()
    phase.commit_at = commit_times(tx_rows, commits)
    print(
        f"{phase.name}: synced {len(tx_rows)} transactions in {phase.synced_s:.1f} s; {len(phase.expected)} events"
    )
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    async with httpx.AsyncClient() as client:
        while True:
            got = (await client.get(f"{receiver}/results")).json()
            phase.hooked, phase.requests, phase.rejected = got["arrivals"], got["requests"], got["rejected"]
            streamed = {a[0] for a in read_arrivals(sse_out)}
            if (
                {a[0] for a in phase.hooked} >= phase.expected and streamed >= phase.expected
            ) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.25)


def phase_figures(phase: Phase) -> dict[str, float]:
    hooked = phase.hooked
    latency = [(a[2] - phase.commit_at[a[0]]) * 1000 for a in hooked if a[0] in phase.commit_at]
    span = max(a[2] for a in hooked) - min(a[2] for a in hooked) if len(hooked) > 1 else 1.0
    ids = [a[0] for a in hooked]
    return {
        "events_per_s": round(len(hooked) / max(span, 1e-3)),
        "p50_ms": round(sorted(latency)[len(latency) // 2], 1) if latency else 0.0,
        "p99_ms": round(p99(latency), 1),
        "lost": len(phase.expected - set(ids)),
        "duplicates": len(ids) - len(set(ids)),
        "span_s": span,
    }


def verdict(value: float, target: float, *, at_least: bool) -> str:
    met = value >= target if at_least else value < target
    return "MET" if met else "NOT MET"


async def run(admin_url: str, n_txs: int, n_wallets: int, *, in_process: bool, batch: int) -> dict[str, Any]:
    configure_logging("WARNING", "console")
    tune_gc_for_throughput()
    per_wallet = [n_txs // n_wallets] * (2 * n_wallets)  # fresh wallets for each mode
    with unthrottled_solana(
        admin_url,
        "bench_events",
        per_wallet,
        webhook_allow_private=True,
        events_stream_buffer=100_000,
    ) as (simulator, database_url, settings):
        addresses = [w["address"] for w in simulator.wallets()["solana"]][: 2 * n_wallets]
        api_port = free_port()
        async with open_services(settings, database_url) as services:
            async with services.db.write() as conn:
                tracked = [await add_wallet(conn, chain=Chain.SOLANA, address=a) for a in addresses]
                # Batched first (the headline figures), then one event per request, each on its own wallets.
                phases = [
                    Phase("batched", batch, tracked[:n_wallets], free_port()),
                    Phase("per-event", 1, tracked[n_wallets:], free_port()),
                ]
                secrets = {}
                for phase in phases:
                    hook = await registry.create_webhook(
                        conn,
                        url=f"http://127.0.0.1:{phase.port}/hook",
                        wallet_ids=[w.id for w in phase.wallets],
                        batch_size=phase.batch,
                    )
                    secrets[phase.name] = hook.secret
                key = (await create_key(conn, name="bench", scope="read")).key
            receivers = [
                spawn(
                    [sys.executable, str(HERE / "_webhook_receiver.py"), "--port", str(phase.port)],
                    {**os.environ, "WEBHOOK_SECRET": secrets[phase.name]},
                )
                for phase in phases
            ]
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
            sse_out = Path(settings.data_dir) / "sse-arrivals.jsonl"
            sse: subprocess.Popen[bytes] | None = None
            try:
                for phase in phases:
                    await wait_http(f"http://127.0.0.1:{phase.port}/results")
                await wait_http(f"http://127.0.0.1:{api_port}/healthz")
                sse = spawn(
                    [
                        sys.executable,
                        str(HERE / "_sse_client.py"),
                        "--url",
                        f"http://127.0.0.1:{api_port}/v1/events/stream",
                        "--key",
                        key,
                        "--out",
                        str(sse_out),
                    ],
                    piped=True,
                )
                assert sse.stdout is not None
                ready = await asyncio.wait_for(asyncio.to_thread(sse.stdout.readline), 30)
                if ready.strip() != b"ready":
                    raise RuntimeError("the SSE client did not connect")
                for phase in phases:
                    await sync_phase(phase, services, settings, f"http://127.0.0.1:{phase.port}", sse_out)
                sse.terminate()
                sse.wait(timeout=30)
                sse_arrivals = read_arrivals(sse_out)
                async with services.db.primary.connect() as conn:
                    published = {
                        str(r.id): float(r.at)
                        for r in await conn.execute(
                            select(outbox.c.id, func.extract("epoch", outbox.c.published_at).label("at"))
                        )
                    }
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
                for process in (*receivers, api, *([relay] if relay else []), *([sse] if sse else [])):
                    process.terminate()
                    process.wait(timeout=30)
    batched, single = (phase_figures(p) for p in phases)
    expected = set().union(*(p.expected for p in phases))
    commit_at = {k: v for p in phases for k, v in p.commit_at.items()}
    sse_ids = [a[0] for a in sse_arrivals]
    sse_lat = [(a[2] - commit_at[a[0]]) * 1000 for a in sse_arrivals if a[0] in commit_at]
    figures: dict[str, Any] = {
        "events": len(phases[0].expected),
        "webhook_events_per_s": batched["events_per_s"],
        "webhook_p99_ms": batched["p99_ms"],
        "sse_p99_ms": round(p99(sse_lat), 1),
        "lost": int(batched["lost"] + single["lost"]) + len(expected - set(sse_ids)),
        "duplicates": int(batched["duplicates"] + single["duplicates"]) + (len(sse_ids) - len(set(sse_ids))),
        "per_event_webhook_events_per_s": single["events_per_s"],
        "per_event_webhook_p99_ms": single["p99_ms"],
        "targets": {
            "webhook_events_per_s": f">= {TARGETS['webhook_events_per_s']}",
            "webhook_p99_ms": f"< {TARGETS['webhook_p99_ms']}",
            "sse_p99_ms": f"< {TARGETS['sse_p99_ms']}",
            "lost": "0",
        },
        "batch": batch,
        "batched_requests": phases[0].requests,
        "per_event_events": len(phases[1].expected),
        "rejected_signatures": phases[0].rejected + phases[1].rejected,
        "sync_s": round(phases[0].synced_s, 2),
        "wallets": n_wallets,
        "relay": "in-process" if in_process else "worker process",
        "webhook_p50_ms": batched["p50_ms"],
        "per_event_webhook_p50_ms": single["p50_ms"],
        "sse_p50_ms": round(sorted(sse_lat)[len(sse_lat) // 2], 1) if sse_lat else 0.0,
        "load_average": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
    rate_target, p99_target = TARGETS["webhook_events_per_s"], TARGETS["webhook_p99_ms"]
    for name, f, phase in (("batched", batched, phases[0]), ("per-event", single, phases[1])):
        print(
            f"webhook {name} (batch {phase.batch}): {len(phase.hooked)} events in {phase.requests} requests "
            f"over {f['span_s']:.1f} s = {f['events_per_s']} events/s (target >= {rate_target}: "
            f"{verdict(f['events_per_s'], rate_target, at_least=True)}); latency p50 {f['p50_ms']} ms, "
            f"p99 {f['p99_ms']} ms (target < {p99_target}: {verdict(f['p99_ms'], p99_target, at_least=False)})"
        )
    print(
        f"sse: {len(sse_arrivals)} arrivals; latency p50 {figures['sse_p50_ms']} ms, p99 {figures['sse_p99_ms']} ms "
        f"(target < {TARGETS['sse_p99_ms']}: {verdict(float(figures['sse_p99_ms']), TARGETS['sse_p99_ms'], at_least=False)})"
    )
    commit_to_published = [(published[k] - t) * 1000 for k, t in commit_at.items() if k in published]
    published_to_sse = [(a[2] - published[a[0]]) * 1000 for a in sse_arrivals if a[0] in commit_at]
    print(
        f"sse path: commit -> published (relay) p50 {sorted(commit_to_published)[len(commit_to_published) // 2]:.0f} ms, "
        f"p99 {p99(commit_to_published):.0f} ms; published -> SSE arrival (API hub, stream) p50 "
        f"{sorted(published_to_sse)[len(published_to_sse) // 2]:.0f} ms, p99 {p99(published_to_sse):.0f} ms"
    )
    for phase in phases:
        during = [(a[2] - phase.commit_at[a[0]]) * 1000 for a in sse_arrivals if a[0] in phase.commit_at]
        print(
            f"sse during the {phase.name} phase: p50 {sorted(during)[len(during) // 2]:.0f} ms, p99 {p99(during):.0f} ms"
        )
    print(
        f"publish delay (outbox written -> published by the relay): p50 "
        f"{sorted(delays)[len(delays) // 2] * 1000:.0f} ms, p99 {p99(delays) * 1000:.0f} ms"
    )
    print(
        f"lost {figures['lost']} (target 0: {'MET' if figures['lost'] == 0 else 'NOT MET'}), "
        f"duplicates {figures['duplicates']}, bad signatures {figures['rejected_signatures']}; "
        f"load average {figures['load_average']}"
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
    parser.add_argument(
        "--batch",
        type=int,
        default=100,
        help="batch size of the batched mode's webhook (the per-event mode always uses 1)",
    )
    args = parser.parse_args()
    figures = asyncio.run(
        run(
            args.admin_url,
            args.transactions,
            args.wallets,
            in_process=args.relay_in_process,
            batch=args.batch,
        )
    )
    print(json.dumps(figures))
