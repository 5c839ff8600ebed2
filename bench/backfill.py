"""Backfill throughput and memory: sync a 100,000-transaction Solana wallet from scratch.

The simulator runs in its own process with no latency and no rate limit, so what is measured is
walletsync itself: listing signature pages, fetching transactions in JSON-RPC batches, normalizing,
and storing them (transactions, links, balance deltas, outbox events, cursor) in PostgreSQL. Peak
RSS is this process's high-water mark (`ru_maxrss`), taken after the sync; memory must stay bounded
whatever the wallet's size because pages stream through a two-page prefetch.

The ceiling, in the same run: the time PostgreSQL takes to ingest the same rows (transactions with
raw bodies, wallet links, balance deltas, into the same schema with its indexes and triggers) by
binary COPY from already-prepared tuples: no parsing, no HTTP, no Python per row beyond asyncpg's
encoder. `ratio_to_ceiling` = tx_per_s / ceiling_tx_per_s.

Usage: `.venv/bin/python bench/backfill.py [--transactions 100000] [--admin-url ...] [--batch-size 250]`
The last line of output is one JSON object:
{"tx_per_s", "ceiling_tx_per_s", "ratio_to_ceiling", "peak_rss_mb", "transactions"}
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time

import asyncpg
from rich.console import Console
from sqlalchemy import column, select
from sqlalchemy import table as sa_table

from _support import DEFAULT_ADMIN_URL, scratch_database, unthrottled_solana
from walletsync.commands import sync_progress
from walletsync.config import Chain
from walletsync.db.engine import libpq_url
from walletsync.indexing.sync import sync_wallet
from walletsync.logs import configure_logging
from walletsync.runtime import tune_gc_for_throughput
from walletsync.services import open_services
from walletsync.wallets.repository import add_wallet


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


async def run(
    admin_url: str, n_txs: int, batch_size: int, concurrency: int, *, store_raw: bool = True
) -> dict[str, float | int]:
    configure_logging("WARNING", "console")
    tune_gc_for_throughput()  # as `walletsync worker` / `sync` do
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with unthrottled_solana(
        admin_url,
        "bench_backfill",
        [n_txs],
        solana_max_concurrency=concurrency,
        sync_fetch_concurrency=concurrency,
        sync_batch_size=batch_size,
        store_raw_transactions=store_raw,
    ) as (simulator, database_url, settings):
        # The ledger lives in the simulator's process; ask it for the wallet's address.
        address = simulator.wallets()["solana"][0]["address"]
        async with open_services(settings, database_url) as services:
            async with services.db.write() as conn:
                wallet = await add_wallet(conn, chain=Chain.SOLANA, address=address)
            console = Console(stderr=True)
            with sync_progress(console) as progress:
                task = progress.add_task("backfill", total=None, seen=0)
                samples: list[tuple[int, float]] = []
                started = time.perf_counter()
                report = await sync_wallet(
                    services.db,
                    wallet.id,
                    adapters=services.adapters,
                    settings=settings,
                    progress=lambda new, seen: (
                        progress.update(task, completed=new, seen=seen),
                        samples.append((new, _rss_mb())),
                    )[0],
                )
                elapsed = time.perf_counter() - started
        # Taken before the ceiling below holds rows in memory: this is the sync's own peak.
        peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        with scratch_database(admin_url, "bench_ceiling") as ceiling_url:
            ceiling_s = await ceiling(database_url, ceiling_url)
    print("rss samples", samples[:: max(1, len(samples) // 12)])
    print(
        f"synced {report.new_transactions} transactions ({report.seen_transactions} listed) in {elapsed:.1f} s"
    )
    print(
        f"throughput: {report.new_transactions / elapsed:,.0f} tx/s; peak RSS {peak_rss_mb:.0f} MB (before: {rss_before:.0f} MB)"
    )
    ceiling_tx_per_s = report.new_transactions / ceiling_s
    print(
        f"ceiling: binary COPY of the same rows (prepared tuples, no parsing, no HTTP) {ceiling_s:.1f} s = "
        f"{ceiling_tx_per_s:,.0f} tx/s; ratio {report.new_transactions / elapsed / ceiling_tx_per_s:.2f}"
    )
    return {
        "tx_per_s": round(report.new_transactions / elapsed),
        "ceiling_tx_per_s": round(ceiling_tx_per_s),
        "ratio_to_ceiling": round(report.new_transactions / elapsed / ceiling_tx_per_s, 3),
        "peak_rss_mb": round(peak_rss_mb, 1),
        "transactions": report.new_transactions,
    }


CEILING_TABLES = (
    ("transactions", ("chain", "tx_id", "height", "block_time", "fee", "success", "raw")),
    ("wallet_transactions", ("wallet_id", "chain", "tx_id", "height", "block_time")),
    ("balance_deltas", ("wallet_id", "chain", "tx_id", "asset_id", "amount", "block_time", "height")),
)
CEILING_CHUNK = 10_000


async def ceiling(source_url: str, target_url: str) -> float:
    """Seconds PostgreSQL takes to ingest the synced rows by binary COPY into an empty migrated database.

    The rows (transactions with their raw bodies, wallet links, balance deltas) are read back from the
    synced database in chunks and held as ready tuples; only the COPY calls are timed. Wallets and
    assets (a handful of rows) are copied first, untimed, for the foreign keys.
    """
    src = await asyncpg.connect(libpq_url(source_url))
    dst = await asyncpg.connect(libpq_url(target_url))
    elapsed = 0.0
    try:
        for table, columns in (
            ("wallets", ("id", "chain", "address")),
            ("assets", ("id", "chain", "asset_key", "symbol", "name", "decimals")),
        ):
            rows = await src.fetch(select_sql(table, columns))
            await dst.copy_records_to_table(table, records=[tuple(r) for r in rows], columns=columns)
        for table, columns in CEILING_TABLES:
            async with src.transaction():
                cursor = await src.cursor(select_sql(table, columns))
                while chunk := await cursor.fetch(CEILING_CHUNK):
                    records = [tuple(r) for r in chunk]
                    started = time.perf_counter()
                    await dst.copy_records_to_table(table, records=records, columns=columns)
                    elapsed += time.perf_counter() - started
    finally:
        await src.close()
        await dst.close()
    return elapsed


def select_sql(table: str, columns: tuple[str, ...]) -> str:
    # Identifiers from the constants above, rendered by SQLAlchemy's compiler (quoting included).
    return str(select(*(column(c) for c in columns)).select_from(sa_table(table)).compile())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--admin-url", default=DEFAULT_ADMIN_URL)
    parser.add_argument("--transactions", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=250, help="getTransaction calls per JSON-RPC batch")
    parser.add_argument("--concurrency", type=int, default=4, help="batches in flight")
    parser.add_argument(
        "--no-raw",
        action="store_true",
        help="WALLETSYNC_STORE_RAW_TRANSACTIONS=false (do not keep raw provider JSON)",
    )
    args = parser.parse_args()
    figures = asyncio.run(
        run(args.admin_url, args.transactions, args.batch_size, args.concurrency, store_raw=not args.no_raw)
    )
    print(json.dumps(figures))
