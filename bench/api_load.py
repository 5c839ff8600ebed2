"""API load: hot reads (balances, leaderboards) with the cache on versus `WALLETSYNC_CACHE=off`.

What it does:
1. Creates a database of its own on the local PostgreSQL (dropped at the end), migrates it and seeds it
   with bulk Core inserts: 1,000 wallets (800 Solana, 200 Cardano), 100,000 transactions (100 per
   wallet, spread over the last 30 days) with their `wallet_transactions` and `balance_deltas` (a
   native delta each, a token delta for every fourth), and prices for the native assets so the value
   leaderboard has scores. One read API key.
2. For each mode (cache on with Redis, then cache off) starts `walletsync api` in a subprocess (one
   uvicorn worker, log level INFO: the access log is written, as in production), warms it up (every
   balances key and every leaderboard once, then `--warmup` seconds of load), then drives it for
   `--duration` seconds with `--clients` concurrent keep-alive httpx clients. Each request is a
   balances read of a random wallet (90%) or a leaderboard (10%: value / activity_24h / activity_7d,
   all chains or one).
3. Prints requests/s, p50/p99 latency (client-side, per request) and, for the cached mode, the
   cache hit ratio over the measured window (from the server's own `/metrics`: hits / all lookups).

Redis keys live under a namespace of this run (deleted at the end); the rate limit is raised out of
the way (it is still checked on every request). Requires PostgreSQL and Redis on 127.0.0.1
(override with --pg-admin-url / --redis-url).

The floor, in the same run: alternating with the cached measurement in five slices, the same server
process is driven with the same clients on `GET /v1/bench/floor` (bench/_api_server.py: the app's
middleware, request log, key auth and Redis rate limit, returning a constant). `ratio_to_floor` =
cached req/s / floor req/s: how close a cached read comes to what the web stack alone allows on this
machine right now.

Usage: `.venv/bin/python bench/api_load.py [--duration 20] [--clients 8]`. The last line of output is
one JSON object: {"hit_ratio", "cached_p99_ms", "cached_rps", "uncached_rps", "speedup", "floor_rps",
"ratio_to_floor"}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import base58
import bech32
import httpx
import psycopg
from psycopg import sql
from sqlalchemy import insert, select

from _api_server import FLOOR_PATH
from walletsync.api.keys import create_key
from walletsync.config import load_settings
from walletsync.db import migrate
from walletsync.db.engine import Database
from walletsync.db.models import (
    asset_prices,
    assets,
    balance_deltas,
    candles,
    instruments,
    sync_state,
    transactions,
    wallet_transactions,
    wallets,
)

N_WALLETS = 1000
N_SOLANA = 800
TXS_PER_WALLET = 100
BATCH = 5000
LEADERBOARDS = [
    f"/v1/leaderboards/{kind}?limit=10{chain}"
    for kind in ("value", "activity_24h", "activity_7d")
    for chain in ("", "&chain=solana", "&chain=cardano")
]


# --- seeding ----------------------------------------------------------------------------------------
def _solana_address(rng: random.Random) -> str:
    return base58.b58encode(rng.randbytes(32)).decode()


def _cardano_address(rng: random.Random) -> str:
    # CIP-19 type 0 (payment key + stake key), mainnet: header 0x01, then two 28-byte hashes.
    data = bech32.convertbits(bytes([0x01]) + rng.randbytes(56), 8, 5)
    assert data is not None
    return str(bech32.bech32_encode("addr", data))


def _batches(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), BATCH):
        yield rows[start : start + BATCH]


async def seed(url: str) -> tuple[str, list[int]]:
    """Seed the benchmark database; return a read API key and the wallet ids."""
    rng = random.Random(20261121)
    settings = load_settings(database_url=url, redis_url=None, auto_migrate=False)
    db = Database.from_settings(url, settings)
    now = datetime.now(UTC)
    try:
        async with db.write() as conn:
            asset_rows = [
                {"chain": "solana", "asset_key": "native", "symbol": "SOL", "name": "Solana", "decimals": 9},
                {
                    "chain": "cardano",
                    "asset_key": "native",
                    "symbol": "ADA",
                    "name": "Cardano",
                    "decimals": 6,
                },
            ] + [
                {
                    "chain": "solana",
                    "asset_key": _solana_address(rng),
                    "symbol": f"TK{i}",
                    "name": f"Token {i}",
                    "decimals": 6,
                }
                for i in range(8)
            ]
            asset_ids = list(
                (await conn.execute(insert(assets).returning(assets.c.id), asset_rows)).scalars().all()
            )
            sol_native, ada_native, tokens = asset_ids[0], asset_ids[1], asset_ids[2:]
            for asset_id, symbol, base in ((sol_native, "SOL/USD", "SOL"), (ada_native, "ADA/USD", "ADA")):
                instrument_id = (
                    await conn.execute(
                        insert(instruments)
                        .values(kind="crypto", symbol=symbol, currency_base=base, currency_quote="USD")
                        .returning(instruments.c.id)
                    )
                ).scalar_one()
                await conn.execute(
                    insert(candles),
                    [
                        {
                            "instrument_id": instrument_id,
                            "interval": "1day",
                            "ts": (now - timedelta(days=d)).replace(
                                hour=0, minute=0, second=0, microsecond=0
                            ),
                            "open": Decimal("100"),
                            "high": Decimal("110"),
                            "low": Decimal("90"),
                            "close": Decimal(100 + d) if base == "SOL" else Decimal("0.5") + Decimal(d) / 100,
                        }
                        for d in range(30)
                    ],
                )
                await conn.execute(
                    insert(asset_prices).values(asset_id=asset_id, instrument_id=instrument_id)
                )

            wallet_rows = [
                {
                    "chain": "solana" if i < N_SOLANA else "cardano",
                    "address": (_solana_address(rng) if i < N_SOLANA else _cardano_address(rng)),
                    "label": f"w{i}",
                    "group_name": f"g{i % 20}",
                }
                for i in range(N_WALLETS)
            ]
            ids = list(
                (await conn.execute(insert(wallets).returning(wallets.c.id), wallet_rows)).scalars().all()
            )
            await conn.execute(
                insert(sync_state),
                [
                    {
                        "wallet_id": w,
                        "status": "ok",
                        "last_synced_at": now - timedelta(seconds=rng.randint(1, 600)),
                    }
                    for w in ids
                ],
            )

            txs: list[dict[str, Any]] = []
            links: list[dict[str, Any]] = []
            deltas: list[dict[str, Any]] = []
            for index, wallet_id in enumerate(ids):
                chain = "solana" if index < N_SOLANA else "cardano"
                native = sol_native if chain == "solana" else ada_native
                for n in range(TXS_PER_WALLET):
                    tx_id = f"{chain[:3]}-{wallet_id}-{n}-{rng.getrandbits(48):012x}"
                    block_time = now - timedelta(seconds=rng.randint(60, 30 * 86400))
                    height = 250_000_000 + wallet_id * TXS_PER_WALLET + n
                    txs.append(
                        {
                            "chain": chain,
                            "tx_id": tx_id,
                            "height": height,
                            "block_time": block_time,
                            "fee": 5000,
                            "success": True,
                        }
                    )
                    common = {
                        "wallet_id": wallet_id,
                        "chain": chain,
                        "tx_id": tx_id,
                        "height": height,
                        "block_time": block_time,
                    }
                    links.append(common)
                    amount = rng.randint(1, 5_000_000_000) if n % 3 else -rng.randint(1, 1_000_000_000)
                    deltas.append({**common, "asset_id": native, "amount": amount})
                    if chain == "solana" and n % 4 == 0:
                        deltas.append(
                            {**common, "asset_id": rng.choice(tokens), "amount": rng.randint(1, 10**9)}
                        )
            for table, rows in ((transactions, txs), (wallet_transactions, links), (balance_deltas, deltas)):
                for chunk in _batches(rows):
                    await conn.execute(insert(table), chunk)
            created = await create_key(conn, name="bench", scope="read")
        async with db.read() as conn:
            counted = len((await conn.execute(select(transactions.c.tx_id))).all())
        assert counted == N_WALLETS * TXS_PER_WALLET, counted
        print(f"seeded {N_WALLETS} wallets, {counted} transactions, {len(deltas)} balance deltas", flush=True)
        return created.key, ids
    finally:
        await db.dispose()


# --- the server -------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_server(
    url: str, redis_url: str, namespace: str, *, cache: bool, workdir: Path, log_level: str = "INFO"
) -> Server:
    port = _free_port()
    env = {
        **os.environ,
        "WALLETSYNC_DATABASE_URL": url,
        "WALLETSYNC_REDIS_URL": redis_url,
        "WALLETSYNC_CACHE": "on" if cache else "off",
        "WALLETSYNC_CACHE_NAMESPACE": namespace,
        # Longer than warm-up plus measurement even on a loaded machine (a warm-up at 50 req/s
        # outlasted the 30 s default and the measured window saw entries expire, not the cache).
        # Wallet entries are dropped by their generation on a write, whatever the TTL.
        "WALLETSYNC_CACHE_TTL_BALANCES": "600",
        "WALLETSYNC_CACHE_TTL_LEADERBOARD": "600",
        "WALLETSYNC_API_RATE_LIMIT": "100000000/minute",
        "WALLETSYNC_AUTO_MIGRATE": "false",
        "WALLETSYNC_LOG_LEVEL": log_level,
        "WALLETSYNC_LOG_FORMAT": "json",
        "WALLETSYNC_DATA_DIR": str(workdir / "data"),
    }
    log_path = workdir / f"api-{'cached' if cache else 'uncached'}.log"
    launcher = Path(__file__).with_name("_api_server.py")  # `walletsync api` plus the floor route
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, str(launcher), "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=workdir,
        )
    server = Server(process=process, base_url=f"http://127.0.0.1:{port}", log_path=log_path)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until it answers
        if process.poll() is not None:
            raise RuntimeError(f"API exited at start; see {log_path}:\n{log_path.read_text()[-2000:]}")
        try:
            if httpx.get(f"{server.base_url}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.1)
    server.stop()
    raise RuntimeError("API did not start in 60 s")


# --- load -------------------------------------------------------------------------------------------
@dataclass
class Run:
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    elapsed_s: float = 0.0

    def merge(self, other: Run) -> None:
        self.latencies_ms += other.latencies_ms
        for status, count in other.statuses.items():
            self.statuses[status] = self.statuses.get(status, 0) + count
        self.elapsed_s += other.elapsed_s

    @property
    def rps(self) -> float:
        return len(self.latencies_ms) / self.elapsed_s if self.elapsed_s else 0.0

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else 0.0


LEADERBOARD_SHARE = 0.1  # set from --leaderboard-share
SLICES = 5  # cached and floor measurements alternate this many times


def _path(rng: random.Random, wallet_ids: list[int]) -> str:
    if not wallet_ids:  # the floor: the constant route, nothing behind it
        return FLOOR_PATH
    if rng.random() >= LEADERBOARD_SHARE:
        return f"/v1/wallets/{rng.choice(wallet_ids)}/balances"
    return rng.choice(LEADERBOARDS)


class RawHttpClient:
    """One keep-alive HTTP/1.1 connection that sends GETs and reads `Content-Length` bodies.

    Written by hand for the load loop only: this machine's few CPUs are shared by the API under test,
    PostgreSQL, Redis and the load generator, and httpx spends more CPU per request than a cached API
    read does, so with httpx the generator (not the API) sets the ceiling. `--client httpx` uses httpx.
    """

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.host, self.port = host, port
        self.head = "".join(f"{k}: {v}\r\n" for k, v in {"Host": f"{host}:{port}", **headers}.items())
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(f"GET {path} HTTP/1.1\r\n{self.head}\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        body = await self.reader.readexactly(length)
        return status, body

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()


async def drive(
    base_url: str, key: str, wallet_ids: list[int], *, clients: int, seconds: float, client_kind: str = "raw"
) -> Run:
    run = Run()
    headers = {"Authorization": f"Bearer {key}"}
    deadline = time.perf_counter() + seconds
    url = httpx.URL(base_url)

    async def loop(get: Any, rng: random.Random) -> None:
        while time.perf_counter() < deadline:
            path = _path(rng, wallet_ids)
            started = time.perf_counter()
            status = await get(path)
            run.latencies_ms.append((time.perf_counter() - started) * 1000)
            run.statuses[status] = run.statuses.get(status, 0) + 1

    async def raw_client(seed: int) -> None:
        client = RawHttpClient(url.host, url.port or 80, headers)

        async def get(path: str) -> int:
            return (await client.get(path))[0]

        try:
            await loop(get, random.Random(seed))
        finally:
            await client.close()

    async def httpx_client(seed: int) -> None:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(base_url=base_url, headers=headers, limits=limits, timeout=30) as http:

            async def get(path: str) -> int:
                return (await http.get(path)).status_code

            await loop(get, random.Random(seed))

    client = raw_client if client_kind == "raw" else httpx_client
    started = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(clients)))
    run.elapsed_s = time.perf_counter() - started
    return run


async def warm(base_url: str, key: str, wallet_ids: list[int]) -> None:
    """Every balances key and every leaderboard once (fills the cache when it is on)."""
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60) as http:
        paths = [f"/v1/wallets/{w}/balances" for w in wallet_ids] + LEADERBOARDS
        for start in range(0, len(paths), 16):
            responses = await asyncio.gather(*(http.get(p) for p in paths[start : start + 16]))
            bad = [r for r in responses if r.status_code != 200]
            if bad:
                raise RuntimeError(f"warm-up got {bad[0].status_code}: {bad[0].text[:300]}")


def cache_counts(base_url: str, key: str) -> dict[str, float]:
    """walletsync_cache_requests_total summed by result, from the server's /metrics (which needs a
    read key: without one the answer is a 401 and every ratio would read 0)."""
    totals: dict[str, float] = {}
    response = httpx.get(f"{base_url}/metrics", headers={"Authorization": f"Bearer {key}"}, timeout=10)
    response.raise_for_status()
    for line in response.text.splitlines():
        if line.startswith("walletsync_cache_requests_total{"):
            labels, value = line.rsplit(" ", 1)
            result = labels.split('result="', 1)[1].split('"', 1)[0]
            totals[result] = totals.get(result, 0.0) + float(value)
    return totals


def measure(
    url: str,
    key: str,
    wallet_ids: list[int],
    *,
    cache: bool,
    args: argparse.Namespace,
    namespace: str,
    workdir: Path,
) -> tuple[Run, float | None, Run | None]:
    server = start_server(
        url, args.redis_url, namespace, cache=cache, workdir=workdir, log_level=args.log_level
    )
    try:
        asyncio.run(warm(server.base_url, key, wallet_ids))
        asyncio.run(drive(server.base_url, key, wallet_ids, clients=args.clients, seconds=args.warmup))
        before = cache_counts(server.base_url, key)
        if not cache:
            run = asyncio.run(
                drive(server.base_url, key, wallet_ids, clients=args.clients, seconds=args.duration)
            )
            floor = None
        else:
            # The floor on the same server, in alternating slices with the cached reads, so the
            # machine's load drifting during the run moves both alike.
            run, floor = Run(), Run()
            for _ in range(SLICES):
                for target, ids in ((run, wallet_ids), (floor, [])):
                    part = asyncio.run(
                        drive(server.base_url, key, ids, clients=args.clients, seconds=args.duration / SLICES)
                    )
                    target.merge(part)
        after = cache_counts(server.base_url, key)
    finally:
        server.stop()
    delta = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}
    lookups = sum(delta.values())
    hit_ratio = delta.get("hit", 0.0) / lookups if cache and lookups else None
    mode = "cached" if cache else "uncached (WALLETSYNC_CACHE=off)"
    print(
        f"{mode:32} {run.rps:8.0f} req/s  p50 {run.percentile(50):6.2f} ms  p99 {run.percentile(99):6.2f} ms"
        f"  mean {statistics.fmean(run.latencies_ms):6.2f} ms  requests {len(run.latencies_ms)}"
        f"  statuses {dict(sorted(run.statuses.items()))}"
        + (f"  cache {json.dumps({k: int(v) for k, v in sorted(delta.items())})}" if cache else ""),
        flush=True,
    )
    if floor is not None:
        print(
            f"{'floor (constant route)':32} {floor.rps:8.0f} req/s  p50 {floor.percentile(50):6.2f} ms"
            f"  p99 {floor.percentile(99):6.2f} ms  requests {len(floor.latencies_ms)}",
            flush=True,
        )
    for measured in (run, floor):
        if measured is not None and set(measured.statuses) != {200}:
            raise RuntimeError(f"non-200 answers in {mode}: {measured.statuses}; see {server.log_path}")
    return run, hit_ratio, floor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pg-admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--duration", type=float, default=20.0, help="Measured seconds per mode.")
    parser.add_argument("--warmup", type=float, default=3.0, help="Seconds of unmeasured load per mode.")
    parser.add_argument("--clients", type=int, default=8, help="Concurrent keep-alive clients.")
    parser.add_argument(
        "--leaderboard-share", type=float, default=0.1, help="Fraction of requests that read a leaderboard."
    )
    parser.add_argument(
        "--client", choices=["raw", "httpx"], default="raw", help="Load client (see RawHttpClient)."
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        help="The API's WALLETSYNC_LOG_LEVEL (INFO writes an access line per request).",
    )
    parser.add_argument("--keep-database", action="store_true", help="Do not drop the benchmark database.")
    args = parser.parse_args()
    global LEADERBOARD_SHARE
    LEADERBOARD_SHARE = args.leaderboard_share

    name = f"walletsync_bench_{uuid.uuid4().hex[:10]}"
    namespace = f"bench-{uuid.uuid4().hex[:10]}"
    admin = args.pg_admin_url
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = str(httpx.URL(admin).copy_with(path=f"/{name}"))
    try:
        started = time.perf_counter()
        migrate.upgrade(url)
        key, wallet_ids = asyncio.run(seed(url))
        print(f"database {name} ready in {time.perf_counter() - started:.1f} s", flush=True)
        print(
            f"load: {args.clients} clients, {args.duration:.0f} s per mode after {args.warmup:.0f} s warm-up; "
            f"{1 - args.leaderboard_share:.0%} balances of a random wallet, {args.leaderboard_share:.0%} "
            "leaderboards (value, activity_24h, activity_7d; all chains or one); "
            f"one uvicorn worker; {os.cpu_count()} CPUs shared by the API, PostgreSQL, Redis and this client",
            flush=True,
        )
        with tempfile.TemporaryDirectory(prefix="walletsync-bench-") as tmp:
            workdir = Path(tmp)
            cached, hit_ratio, floor = measure(
                url, key, wallet_ids, cache=True, args=args, namespace=namespace, workdir=workdir
            )
            uncached, _, _ = measure(
                url, key, wallet_ids, cache=False, args=args, namespace=namespace, workdir=workdir
            )
        asyncio.run(_forget_namespace(args.redis_url, namespace))
    finally:
        if not args.keep_database:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    result = {
        "hit_ratio": round(hit_ratio or 0.0, 4),
        "cached_p99_ms": round(cached.percentile(99), 2),
        "cached_rps": round(cached.rps, 1),
        "uncached_rps": round(uncached.rps, 1),
        "speedup": round(cached.rps / uncached.rps, 2) if uncached.rps else None,
        "floor_rps": round(floor.rps, 1) if floor else None,
        "ratio_to_floor": round(cached.rps / floor.rps, 3) if floor and floor.rps else None,
    }
    targets = (
        f"targets: hit ratio >= 0.95 ({'met' if result['hit_ratio'] >= 0.95 else 'MISSED'}), "
        f"cached p99 < 20 ms ({'met' if result['cached_p99_ms'] < 20 else 'MISSED'}), "
        f"speedup >= 5 ({'met' if (result['speedup'] or 0) >= 5 else 'MISSED'}), "
        f"ratio to floor >= 0.7 ({'met' if (result['ratio_to_floor'] or 0) >= 0.7 else 'MISSED'})"
    )
    print(targets)
    print(json.dumps(result))


async def _forget_namespace(redis_url: str, namespace: str) -> None:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(redis_url)
    try:
        keys = [k async for k in client.scan_iter(f"{namespace}:*", count=1000)]
        for start in range(0, len(keys), 500):
            await client.delete(*keys[start : start + 500])
    finally:
        await client.aclose()


if __name__ == "__main__":
    main()
