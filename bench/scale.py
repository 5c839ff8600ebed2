"""Reads at scale: 10,000 wallets, 1,000,000 transactions, 10,000,000 balance deltas.

What it does:
1. Creates a database of its own (dropped at the end), migrated to the revision before 0010, and
   seeds it with binary COPY (asyncpg): wallets (80% Solana, 20% Cardano, groups of 100), their sync
   state (all due), 50 assets per chain, prices for the natives and ten tokens, then transactions
   spread over the last 365 days. Each transaction links two wallets of its chain and writes five
   deltas for each (native plus four of the wallet's eight tokens), so `--deltas-per-tx 10` gives 10 M
   deltas for 1 M transactions. Ten "whale" wallets take a tenth of all transactions. The seed
   session skips foreign-key triggers (`session_replication_role = replica`; the data is generated
   consistent) and builds the secondary indexes after the load, as any bulk load would.
2. Upgrades to head, timed: revision 0010 backfills `current_balances` from every delta and builds
   the activity index, the cost an operator pays once.
3. VACUUM ANALYZE, then measures uncached (no application cache; PostgreSQL's own buffers warm)
   latencies of the code the API runs on a cache miss: balances of random wallets (whales
   included), the value leaderboard and both activity leaderboards (all chains and per chain),
   100-wallet group values; and a sweep of the 10,000 due wallets (repeated until none is left).
   The limit beside them, in the same run: p99 of `SELECT 1` on the same pool (what the machine's
   load adds to any query), and the point-in-time balances read that still sums the history.
4. Reports the database size and bytes stored per transaction (transactions, links, deltas,
   current balances and their indexes; `raw` bodies are not stored here).

Usage: `.venv/bin/python bench/scale.py [--wallets 10000] [--transactions 1000000] [--deltas-per-tx 10]`
The last line is one JSON object: {"balances_p99_ms", "leaderboard_value_p99_ms",
"leaderboard_activity_p99_ms", "group_value_p99_ms", "sweep_10k_s", "db_size_mb", ...}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import asyncpg
import psycopg
from psycopg import sql
from sqlalchemy import text

from _support import DEFAULT_ADMIN_URL, scratch_database
from walletsync.config import load_settings
from walletsync.db import migrate
from walletsync.db.engine import libpq_url, make_engine
from walletsync.logs import configure_logging
from walletsync.portfolio.balances import wallet_balances
from walletsync.portfolio.leaderboard import leaderboard
from walletsync.portfolio.valuation import group_value

ASSETS_PER_CHAIN = 50
TOKENS_PER_WALLET = 8
PRICED_TOKENS = 5  # per chain, besides the native asset
CHUNK_TXS = 20_000
NOW = datetime.now(UTC).replace(microsecond=0)
FACT_TABLES = ("transactions", "wallet_transactions", "balance_deltas", "current_balances")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Seed:
    """The generated data set, produced in chunks so memory stays flat whatever the size."""

    def __init__(self, wallets: int, txs: int, deltas_per_tx: int, seed: int = 13) -> None:
        self.rng = random.Random(seed)
        self.n_wallets, self.n_txs = wallets, txs
        self.per_side = max(1, deltas_per_tx // 2)
        self.chain = ["cardano" if i % 5 == 4 else "solana" for i in range(wallets + 1)]
        self.chain[0] = ""
        self.by_chain = {
            c: [i for i in range(1, wallets + 1) if self.chain[i] == c] for c in ("solana", "cardano")
        }
        self.whales = {c: ids[:5] for c, ids in self.by_chain.items()}
        self.asset_base = {"solana": 1, "cardano": 1 + ASSETS_PER_CHAIN}  # native first, then tokens
        self.tokens = [
            [] if i == 0 else self.rng.sample(range(1, ASSETS_PER_CHAIN), TOKENS_PER_WALLET)
            for i in range(wallets + 1)
        ]

    def wallets(self) -> list[tuple[Any, ...]]:
        return [
            (i, self.chain[i], f"bench-{self.chain[i]}-{i:08d}", None, f"group{(i - 1) // 100:03d}")
            for i in range(1, self.n_wallets + 1)
        ]

    def assets(self) -> list[tuple[Any, ...]]:
        rows = []
        for chain, base in self.asset_base.items():
            for k in range(ASSETS_PER_CHAIN):
                key = "native" if k == 0 else f"{chain}-token-{k:02d}"
                rows.append((base + k, chain, key, f"T{k}" if k else chain[:3].upper(), 9 if k else 6, "{}"))
        return rows

    def chunks(self) -> Iterator[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
        rng, span = self.rng, timedelta(days=365).total_seconds()
        start = NOW - timedelta(days=365)
        for first in range(0, self.n_txs, CHUNK_TXS):
            txs, links, deltas = [], [], []
            for j in range(first, min(first + CHUNK_TXS, self.n_txs)):
                chain = "cardano" if j % 5 == 4 else "solana"
                pool = self.by_chain[chain]
                a = rng.choice(self.whales[chain]) if j % 10 == 0 else rng.choice(pool)
                b = rng.choice(pool)
                b = b if b != a else pool[(pool.index(a) + 1) % len(pool)]
                tx_id = rng.randbytes(44 if chain == "solana" else 32).hex()
                at = start + timedelta(seconds=span * j / self.n_txs)
                height, fee = 1_000_000 + j, 5_000
                txs.append((chain, tx_id, height, at, Decimal(fee), True))
                base = self.asset_base[chain]
                amount = rng.randrange(1, 10**9)
                for wallet, sign in ((a, -1), (b, 1)):
                    links.append((wallet, chain, tx_id, height, at))
                    deltas.append(
                        (
                            wallet,
                            chain,
                            tx_id,
                            base,
                            Decimal(sign * amount - (fee if sign < 0 else 0)),
                            at,
                            height,
                        )
                    )
                    for token in rng.sample(self.tokens[wallet], self.per_side - 1):
                        deltas.append(
                            (
                                wallet,
                                chain,
                                tx_id,
                                base + token,
                                Decimal(sign * rng.randrange(1, 10**6)),
                                at,
                                height,
                            )
                        )
            yield txs, links, deltas


async def seed_database(url: str, seed: Seed) -> tuple[float, int]:
    """COPY the data set in; return (seconds, deltas written)."""
    started = time.perf_counter()
    dsn = libpq_url(url)
    conns = [await asyncpg.connect(dsn) for _ in range(3)]
    for conn in conns:
        await conn.execute("SET session_replication_role = replica; SET synchronous_commit = off")
    main = conns[0]
    # Secondary indexes are dropped for the load and rebuilt after with their exact definitions.
    with psycopg.connect(dsn, autocommit=True) as ddl:
        indexes = ddl.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY(%s) "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint)",
            (list(FACT_TABLES),),
        ).fetchall()
        for name, _ in indexes:
            ddl.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
    await main.copy_records_to_table(
        "wallets", records=seed.wallets(), columns=["id", "chain", "address", "label", "group_name"]
    )
    due = NOW - timedelta(minutes=1)
    await main.copy_records_to_table(
        "sync_state",
        records=[(i, "ok", due) for i in range(1, seed.n_wallets + 1)],
        columns=["wallet_id", "status", "next_sync_at"],
    )
    await main.copy_records_to_table(
        "assets",
        records=seed.assets(),
        columns=["id", "chain", "asset_key", "symbol", "decimals", "metadata"],
    )
    await _prices(main, seed)
    n_deltas = 0
    tables = (
        ("transactions", ["chain", "tx_id", "height", "block_time", "fee", "success"]),
        ("wallet_transactions", ["wallet_id", "chain", "tx_id", "height", "block_time"]),
        ("balance_deltas", ["wallet_id", "chain", "tx_id", "asset_id", "amount", "block_time", "height"]),
    )
    pending: list[asyncio.Task[str]] = []
    for chunk in seed.chunks():
        await asyncio.gather(*pending)  # one chunk in flight per table while the next is generated
        n_deltas += len(chunk[2])
        pending = [
            asyncio.create_task(conn.copy_records_to_table(name, records=rows, columns=cols))
            for conn, (name, cols), rows in zip(conns, tables, chunk, strict=True)
        ]
        print(f"\r  seeded {n_deltas:,} deltas", end="", flush=True)
    await asyncio.gather(*pending)
    print()
    for conn in conns:
        await conn.close()
    with psycopg.connect(dsn, autocommit=True) as ddl:
        ddl.execute("SET maintenance_work_mem = '256MB'")
        for _, definition in indexes:
            ddl.execute(definition.encode())  # the server's own text of the index, verbatim
    return time.perf_counter() - started, n_deltas


async def _prices(conn: asyncpg.Connection, seed: Seed) -> None:
    instruments, links, candles = [], [], []
    for chain, base in seed.asset_base.items():
        for k in range(PRICED_TOKENS + 1):
            iid = len(instruments) + 1
            instruments.append((iid, "crypto", f"{chain[:3].upper()}{k}/USD", "USD"))
            links.append((base + k, iid))
            for h in range(48):
                close = Decimal(1 + iid) + Decimal(h) / 100
                candles.append((iid, "1h", NOW - timedelta(hours=48 - h), close, close, close, close))
    await conn.copy_records_to_table(
        "instruments", records=instruments, columns=["id", "kind", "symbol", "currency_quote"]
    )
    await conn.copy_records_to_table("asset_prices", records=links, columns=["asset_id", "instrument_id"])
    await conn.copy_records_to_table(
        "candles",
        records=candles,
        columns=["instrument_id", "interval", "ts", "open", "high", "low", "close"],
    )


async def timed(samples: list[float], call: Callable[[], Awaitable[object]]) -> None:
    started = time.perf_counter()
    await call()
    samples.append((time.perf_counter() - started) * 1000)


async def sweep_all(db: Any, n_wallets: int) -> tuple[float, int]:
    """Queue every due wallet with the production sweep, called until it finds none."""
    try:  # the sweep with a busy check, when present
        from walletsync.jobs.sweep import sweep
    except ImportError:
        sweep = None
    from walletsync.indexing import state
    from walletsync.jobs.api import defer_sync

    started, queued = time.perf_counter(), 0
    for _ in range(n_wallets // 100 + 10):
        if sweep is not None:
            n = await sweep(db, now=datetime.now(UTC))
        else:  # the older task body, given room for every wallet in one go
            async with db.write() as conn:
                due = await state.due_wallets(conn, limit=n_wallets)
                for wallet_id in due:
                    await defer_sync(conn, wallet_id)
            n = 0 if queued else len(due)
        queued += n
        if n == 0:
            break
    return time.perf_counter() - started, queued


async def measure(url: str, seed: Seed, samples: int) -> dict[str, Any]:
    from walletsync.db.engine import Database

    with TemporaryDirectory() as tmp:
        settings = load_settings(database_url=url, data_dir=Path(tmp), redis_url=None, auto_migrate=False)
        engine = make_engine(url, settings)
        rng = random.Random(7)
        whales = [w for ids in seed.whales.values() for w in ids]
        wallet_ids = [rng.randint(1, seed.n_wallets) for _ in range(samples)] + whales * 5
        lat: dict[str, list[float]] = {
            k: [] for k in ("floor", "balances", "history", "value", "activity", "group")
        }
        async with engine.connect() as conn:
            for _ in range(200):
                await timed(lat["floor"], lambda: conn.execute(text("SELECT 1")))
            for wid in wallet_ids:
                await timed(lat["balances"], lambda wid=wid: wallet_balances(conn, wid))
            for wid in wallet_ids[: samples // 5] + whales:
                await timed(
                    lat["history"], lambda wid=wid: wallet_balances(conn, wid, at=NOW + timedelta(days=1))
                )
            for i in range(max(30, samples // 10)):
                chain = (None, "solana", "cardano")[i % 3]
                await timed(lat["value"], lambda chain=chain: leaderboard(conn, kind="value", chain=chain))
                kind = ("activity_24h", "activity_7d")[i % 2]
                await timed(
                    lat["activity"], lambda chain=chain, kind=kind: leaderboard(conn, kind=kind, chain=chain)
                )
            n_groups = max(1, seed.n_wallets // 100)
            for i in range(max(30, samples // 10)):
                name = f"group{i % n_groups:03d}"
                await timed(lat["group"], lambda name=name: group_value(conn, name))
            await conn.rollback()
        await engine.dispose()
        db = Database.from_settings(url, settings)
        try:
            sweep_s, queued = await sweep_all(db, seed.n_wallets)
        finally:
            await db.dispose()
    figures: dict[str, Any] = {}
    for name, values in lat.items():
        figures[f"{name}_p50_ms"] = round(statistics.median(values), 2)
        figures[f"{name}_p99_ms"] = round(_pct(values, 0.99), 2)
        print(
            f"{name:>9}: n={len(values):5d} p50 {figures[f'{name}_p50_ms']:8.2f} ms  p99 {figures[f'{name}_p99_ms']:8.2f} ms"
        )
    print(f"    sweep: queued {queued:,} wallets in {sweep_s:.2f} s")
    figures.update(sweep_s=round(sweep_s, 2), sweep_queued=queued)
    return figures


async def sizes(url: str, n_txs: int) -> dict[str, Any]:
    conn = await asyncpg.connect(libpq_url(url))
    try:
        db_bytes = await conn.fetchval("SELECT pg_database_size(current_database())")
        fact_bytes = await conn.fetchval(
            "SELECT sum(pg_total_relation_size(t)) FROM unnest($1::text[]) AS t", list(FACT_TABLES)
        )
        for table in FACT_TABLES:
            size = await conn.fetchval("SELECT pg_total_relation_size($1)", table)
            print(f"  {table:>20}: {size / 2**20:8.1f} MB")
    finally:
        await conn.close()
    return {"db_size_mb": round(db_bytes / 2**20, 1), "bytes_per_tx": round(fact_bytes / max(1, n_txs))}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    configure_logging("WARNING", "console")
    seed = Seed(args.wallets, args.transactions, args.deltas_per_tx)
    previous = migrate.revisions()[migrate.revisions().index("0010") - 1]
    with scratch_database(args.admin_url, "bench_scale", revision=previous) as url:
        seed_s, n_deltas = await seed_database(url, seed)
        print(
            f"seeded {args.wallets:,} wallets, {args.transactions:,} txs, {n_deltas:,} deltas in {seed_s:.1f} s"
        )
        started = time.perf_counter()
        migrate.upgrade(url)
        migration_s = time.perf_counter() - started
        print(f"upgrade to head (current_balances backfill, activity index): {migration_s:.1f} s")
        conn = await asyncpg.connect(libpq_url(url))
        await conn.execute("VACUUM ANALYZE")
        await conn.close()
        figures = await measure(url, seed, args.samples)
        size = await sizes(url, args.transactions)
    print(f"database {size['db_size_mb']:,.0f} MB; {size['bytes_per_tx']:,} bytes per transaction stored")
    return {
        "balances_p99_ms": figures["balances_p99_ms"],
        "leaderboard_value_p99_ms": figures["value_p99_ms"],
        "leaderboard_activity_p99_ms": figures["activity_p99_ms"],
        "group_value_p99_ms": figures["group_p99_ms"],
        "sweep_10k_s": figures["sweep_s"],
        "db_size_mb": size["db_size_mb"],
        "bytes_per_tx": size["bytes_per_tx"],
        "floor_select1_p99_ms": figures["floor_p99_ms"],
        "history_balances_p99_ms": figures["history_p99_ms"],
        "limit_p99_ms": 50,
        "limit_sweep_s": 10,
        "seed_s": round(seed_s, 1),
        "migration_0010_s": round(migration_s, 1),
        "wallets": args.wallets,
        "transactions": args.transactions,
        "deltas": n_deltas,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--admin-url", default=DEFAULT_ADMIN_URL)
    parser.add_argument("--wallets", type=int, default=10_000)
    parser.add_argument("--transactions", type=int, default=1_000_000)
    parser.add_argument("--deltas-per-tx", type=int, default=10, help="two wallets x this / 2 assets each")
    parser.add_argument("--samples", type=int, default=1_000, help="balances reads (boards: a tenth)")
    print(json.dumps(asyncio.run(run(parser.parse_args()))))
