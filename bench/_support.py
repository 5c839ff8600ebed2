"""Shared by the benchmark scripts: a throwaway database on a PostgreSQL server, migrated to head, and
a Solana simulator with no rate limit in front of it."""

from __future__ import annotations

import signal
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any
from urllib.parse import urlparse

import psycopg
from psycopg import sql

from walletsync.config import Settings, load_settings
from walletsync.db import migrate
from walletsync.simulator import SimulatorServer

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


@contextmanager
def scratch_database(admin_url: str, prefix: str, *, revision: str = "head") -> Iterator[str]:
    """Create `<prefix>_<random>` on the server of `admin_url`, migrate it (to `revision`), yield its
    URL, drop it."""
    # A benchmark stopped with SIGTERM (kill, timeout) still drops its database: exit through `finally`.
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = urlparse(admin_url)._replace(path=f"/{name}").geturl()
    try:
        migrate.upgrade(url, revision)
        yield url
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextmanager
def unthrottled_solana(
    admin_url: str, prefix: str, transactions_per_wallet: list[int], **settings: Any
) -> Iterator[tuple[SimulatorServer, str, Settings]]:
    """A simulator (its own process) with one Solana wallet per entry of `transactions_per_wallet`, a
    scratch database, and settings that reach both with no client-side rate limit: what a benchmark
    of walletsync's own work needs. `settings` adds to or overrides those settings."""
    ledger_kwargs = {
        "seed": 5,
        "solana_wallets": 0,
        "cardano_wallets": 0,
        "exact_solana_wallets": transactions_per_wallet,
    }
    with (
        SimulatorServer(ledger_kwargs=ledger_kwargs, process=True) as simulator,
        scratch_database(admin_url, prefix) as database_url,
        TemporaryDirectory() as tmp,
    ):
        configured = load_settings(
            **{
                "database_url": database_url,
                "data_dir": Path(tmp),
                "redis_url": None,
                "auto_migrate": False,
                "solana_rpc_urls": [simulator.url("solana")],
                "solana_rate": 1_000_000.0,
                "solana_burst": 1_000_000,
                **settings,
            }
        )
        yield simulator, database_url, configured
