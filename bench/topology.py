"""Topology costs: PgBouncer in transaction mode, and how far behind a streaming replica runs.

What it measures, each beside its limit in the same run:
1. Pooling. 64 concurrent clients run short read transactions (a primary-key lookup, the shape of
   most API reads) for a fixed time against the same PostgreSQL: directly with asyncpg's statement
   cache (the default), directly in PgBouncer mode (unnamed statements, no cache: the per-query cost
   of transaction pooling), and through a real PgBouncer (Debian's, transaction mode, 8 server
   connections). Reported: transactions/s, p50/p99, and the server connections each needed. Limit:
   through PgBouncer, at least 90% of the throughput of the same client settings direct, and at
   most 8 server connections for 64 clients. (A first limit, p50 within 2 ms of direct, measured
   2.3 ms at load average 15 on 2 cores: absolute latencies here are the machine's, so the limit
   compares within the run.)
2. Replication. A throwaway primary + streaming replica (tests/pgcluster.py, Debian's binaries):
   200 single-row commits, each followed by polling the replica until its replay position passes
   the commit. Reported: replay delay p50/p99/max. Limit: the default WALLETSYNC_REPLICA_MAX_LAG (5 s);
   a replica slower than that would be skipped for reads.
3. Read-your-writes routing. Right after each commit, one read goes through `Database.read()` with
   the commit's WAL position: how many were served by the replica (it had replayed already) and how
   many fell back to the primary.

Usage: `.venv/bin/python bench/topology.py [--seconds 5] [--clients 64] [--writes 200]` (as root, or as a user who
can run PostgreSQL and PgBouncer). Needs `pgbouncer` installed (`.ci/run` installs it). Last line:
one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import BigInteger, Integer, column, func, select, table
from sqlalchemy.ext.asyncio import AsyncEngine

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/pgcluster.py, tests/pgbouncer.py

from tests.pgbouncer import running_pgbouncer
from tests.pgcluster import PgCluster

from walletsync.config import load_settings
from walletsync.db.engine import Database, make_engine
from walletsync.logs import configure_logging

ROWS = 10_000  # rows of the lookup table (the CREATE TABLE below)
POOL = 8
_items = table("items", column("id", Integer), column("value", BigInteger))


def _ms(seconds: list[float], q: float) -> float:
    ordered = sorted(seconds)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)


async def _load(engine: AsyncEngine, *, clients: int, seconds: float) -> dict[str, Any]:
    latencies: list[float] = []
    deadline = time.monotonic() + seconds
    query = select(_items.c.value).where(_items.c.id == func.floor(func.random() * ROWS + 1).cast(Integer))

    async def client() -> None:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            async with engine.begin() as conn:
                await conn.execute(query)
            latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(client() for _ in range(clients)))
    return {
        "tx_per_s": round(len(latencies) / seconds),
        "p50_ms": _ms(latencies, 0.50),
        "p99_ms": _ms(latencies, 0.99),
    }


def _backends(url: str, database: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND backend_type = 'client backend'",
            (database,),
        ).fetchone()
        return int(row[0]) - 1 if row else 0  # minus this session


async def pooling(cluster: PgCluster, *, clients: int, seconds: float, data_dir: Path) -> dict[str, Any]:
    direct = cluster.create_database("pooling")
    cluster.primary.execute(
        "CREATE TABLE items AS SELECT g AS id, g * 10 AS value FROM generate_series(1, 10000) g", "pooling"
    )
    cluster.primary.execute("ALTER TABLE items ADD PRIMARY KEY (id)", "pooling")
    results: dict[str, Any] = {}
    with running_pgbouncer("127.0.0.1", cluster.primary.port, pool_size=POOL) as bouncer:
        modes = {
            "direct_cached": (direct, False),
            "direct_pgbouncer_mode": (direct, True),
            "through_pgbouncer": (bouncer.url("pooling"), True),
        }
        for name, (url, pgbouncer_mode) in modes.items():
            settings = load_settings(
                database_url=url,
                database_pgbouncer=pgbouncer_mode,
                database_direct_url=direct if pgbouncer_mode else None,
                database_pool_size=clients,
                database_max_overflow=0,
                data_dir=data_dir,
                redis_url=None,
            )
            engine = make_engine(url, settings)
            try:
                await _load(engine, clients=clients, seconds=1.0)  # warm the pool and the server
                figures = await _load(engine, clients=clients, seconds=seconds)
                figures["server_connections"] = _backends(direct, "pooling")
                results[name] = figures
                print(
                    f"{name:>22}: {figures['tx_per_s']:>6} tx/s  p50 {figures['p50_ms']:>6} ms  "
                    f"p99 {figures['p99_ms']:>6} ms  server connections {figures['server_connections']}"
                )
            finally:
                await engine.dispose()
    return results


async def replication(cluster: PgCluster, *, writes: int, data_dir: Path) -> dict[str, Any]:
    assert cluster.replica is not None
    primary = cluster.create_database("replication")
    cluster.primary.execute("CREATE TABLE items (id int PRIMARY KEY, value bigint)", "replication")
    cluster.wait_replayed()
    settings = load_settings(
        database_url=primary,
        database_replica_urls=[cluster.replica.url("replication")],
        data_dir=data_dir,
        redis_url=None,
    )
    db = Database.from_settings(primary, settings)
    delays: list[float] = []
    served = {"replica": 0, "primary": 0}
    try:
        for i in range(writes):
            async with db.write() as conn:
                await conn.execute(_items.insert().values(id=i, value=i))
            position = await db.write_position()
            committed = time.perf_counter()
            async with db.read(after_lsn=position) as conn:  # read-your-writes, right away
                served["primary" if conn.engine is db.primary else "replica"] += 1
                assert await conn.scalar(select(_items.c.value).where(_items.c.id == i)) == i
            async with db.replicas.replicas[0].engine.connect() as conn:
                while True:
                    replayed = await conn.scalar(select(func.pg_last_wal_replay_lsn(type_=BigInteger)))
                    await conn.rollback()
                    if replayed is not None and position is not None and replayed >= position:
                        break
                    await asyncio.sleep(0.0005)
            delays.append(time.perf_counter() - committed)
    finally:
        await db.dispose()
    figures = {
        "replay_p50_ms": _ms(delays, 0.50),
        "replay_p99_ms": _ms(delays, 0.99),
        "replay_max_ms": round(max(delays) * 1000, 2),
        "read_after_write_from_replica": served["replica"],
        "read_after_write_from_primary": served["primary"],
    }
    print(
        f"replay delay after commit: p50 {figures['replay_p50_ms']} ms, p99 {figures['replay_p99_ms']} ms, "
        f"max {figures['replay_max_ms']} ms over {writes} commits"
    )
    print(
        f"read right after each write: {served['replica']} from the replica (already replayed), "
        f"{served['primary']} from the primary (not yet)"
    )
    return figures


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--writes", type=int, default=200)
    args = parser.parse_args()
    configure_logging("WARNING", "console")
    import tempfile

    # Enough server connections for the direct runs (PgBouncer's whole point is to need fewer).
    server = {"max_connections": str(args.clients + 40)}
    with tempfile.TemporaryDirectory() as tmp, PgCluster.start(replica=True, settings=server) as cluster:
        print(
            f"PostgreSQL {cluster.primary.execute('SHOW server_version')[0][0]}, throwaway primary + replica"
        )
        pool = await pooling(cluster, clients=args.clients, seconds=args.seconds, data_dir=Path(tmp))
        repl = await replication(cluster, writes=args.writes, data_dir=Path(tmp))
    overhead = round(pool["through_pgbouncer"]["p50_ms"] - pool["direct_pgbouncer_mode"]["p50_ms"], 2)
    share = round(
        pool["through_pgbouncer"]["tx_per_s"] / max(1, pool["direct_pgbouncer_mode"]["tx_per_s"]), 3
    )
    ok_pool = share >= 0.9 and pool["through_pgbouncer"]["server_connections"] <= POOL
    ok_lag = repl["replay_p99_ms"] < 5000
    print(
        f"through PgBouncer: {share:.0%} of direct throughput (limit 90%), p50 +{overhead} ms, "
        f"server connections {pool['through_pgbouncer']['server_connections']} (limit {POOL}): "
        f"{'ok' if ok_pool else 'OVER'}"
    )
    print(
        f"replay p99 {repl['replay_p99_ms']} ms (limit WALLETSYNC_REPLICA_MAX_LAG 5000 ms): {'ok' if ok_lag else 'OVER'}"
    )
    print(
        json.dumps(
            {
                "clients": args.clients,
                "pool_size": POOL,
                **{f"{mode}_{k}": v for mode, figures in pool.items() for k, v in figures.items()},
                "pgbouncer_p50_overhead_ms": overhead,
                "pgbouncer_throughput_share": share,
                "pgbouncer_throughput_share_limit": 0.9,
                **repl,
                "replica_max_lag_limit_ms": 5000,
                "ok": ok_pool and ok_lag,
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
