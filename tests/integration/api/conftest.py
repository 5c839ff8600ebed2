"""Fixtures for the API tests: the real app (lifespan and all) on the test PostgreSQL and Redis.

Every test gets its own cache namespace in the shared Redis (and deletes its keys afterwards), so
parallel runs never read each other's cache or rate-limit counters.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import insert

from walletsync.api.app import create_app
from walletsync.api.keys import create_key, key_memo
from walletsync.config import Settings
from walletsync.db.engine import Database
from walletsync.db.models import (
    assets,
    balance_deltas,
    sync_state,
    transactions,
    wallet_transactions,
    wallets,
)

SOLANA_ADDRESSES = [
    "4Nd1mBQtrMJVYVfKf2PJy9NZUZdTAsp7D4xWLs4gDB4T",
    "So11111111111111111111111111111111111111112",
    "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA",
    "Vote111111111111111111111111111111111111111",
]
CARDANO_ADDRESS = (
    "addr1qx2fxv2umyhttkxyxp8x0dlpdt3k6cwng5pxj3jhsydzer3n0d3vllmyqwsx5wktcd8cc3sq835lu7drv2xwl2wywfgse35a3x"
)


@pytest.fixture
def api_settings(settings: Settings, redis_url: str) -> Settings:
    """Test settings with Redis, a namespace of its own and a rate limit no test hits by accident."""
    return settings.model_copy(
        update={
            "redis_url": redis_url,
            "cache_namespace": f"wstest-{uuid.uuid4().hex[:10]}",
            "api_rate_limit": "100000/minute",
        }
    )


@dataclass
class Api:
    """The running app and a client; `as_(key)` gives headers for a key."""

    app: FastAPI
    client: httpx.AsyncClient
    db: Database
    settings: Settings

    @property
    def state(self) -> Any:
        return self.app.state.walletsync


AppFactory = Callable[..., Any]


@pytest.fixture
async def make_api(db: Database) -> AsyncIterator[Callable[[Settings], Any]]:
    """Start apps (lifespan included) on the test database; all are stopped and their keys deleted."""
    from contextlib import AsyncExitStack

    stack = AsyncExitStack()
    key_memo().clear()

    async def start(settings: Settings, *, database: Database | None = None) -> Api:
        app = create_app(settings, database=database or db)
        await stack.enter_async_context(app.router.lifespan_context(app))
        client = await stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
        )
        api = Api(app=app, client=client, db=database or db, settings=settings)
        stack.push_async_callback(_forget_keys, api)
        return api

    async with stack:
        yield start
    key_memo().clear()


async def _forget_keys(api: Api) -> None:
    # A test may have stopped its Redis on purpose: then there is nothing left to delete.
    with contextlib.suppress(Exception):
        await api.state.cache.clear_namespace()
        await api.state.limiter.reset()


@pytest.fixture
async def api(make_api: Callable[[Settings], Any], api_settings: Settings) -> Api:
    """The app with Redis, public reads off."""
    started: Api = await make_api(api_settings)
    return started


@dataclass(frozen=True)
class Keys:
    read: dict[str, str]
    write: dict[str, str]
    admin: dict[str, str]
    read_id: int


@pytest.fixture
async def keys(db: Database) -> Keys:
    """One key per scope, as request headers."""
    async with db.write() as conn:
        read = await create_key(conn, name="reader", scope="read")
        write = await create_key(conn, name="writer", scope="write")
        admin = await create_key(conn, name="admin", scope="admin")
    return Keys(
        read={"Authorization": f"Bearer {read.key}"},
        write={"Authorization": f"Bearer {write.key}"},
        admin={"Authorization": f"Bearer {admin.key}"},
        read_id=read.info.id,
    )


# --- seeded facts ------------------------------------------------------------------------------------
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class Seeded:
    wallet_id: int
    native_id: int
    token_id: int
    tx_ids: list[str]  # oldest first


async def seed_wallet_history(
    db: Database, *, address: str = SOLANA_ADDRESSES[0], n_txs: int = 10, start_height: int = 1000
) -> Seeded:
    """A Solana wallet with `n_txs` transactions: each adds 1_000_000 lamports; even ones also 5 USDC units."""
    async with db.write() as conn:
        wallet_id = (
            await conn.execute(
                insert(wallets).values(chain="solana", address=address).returning(wallets.c.id)
            )
        ).scalar_one()
        await conn.execute(insert(sync_state).values(wallet_id=wallet_id, status="ok", last_synced_at=T0))
        native_id = await _asset(conn, "native", "SOL", 9)
        token_id = await _asset(conn, "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", "USDC", 6)
        tx_ids = [f"{address[:6]}tx{i:05d}" for i in range(n_txs)]
        await conn.execute(
            insert(transactions),
            [
                {
                    "chain": "solana",
                    "tx_id": tx,
                    "height": start_height + i,
                    "block_time": T0 + timedelta(hours=i),
                    "fee": 5000,
                    "success": True,
                }
                for i, tx in enumerate(tx_ids)
            ],
        )
        await conn.execute(
            insert(wallet_transactions),
            [
                {
                    "wallet_id": wallet_id,
                    "chain": "solana",
                    "tx_id": tx,
                    "height": start_height + i,
                    "block_time": T0 + timedelta(hours=i),
                }
                for i, tx in enumerate(tx_ids)
            ],
        )
        deltas = []
        for i, tx in enumerate(tx_ids):
            common = {"wallet_id": wallet_id, "chain": "solana", "tx_id": tx, "height": start_height + i}
            deltas.append(
                {**common, "asset_id": native_id, "amount": 1_000_000, "block_time": T0 + timedelta(hours=i)}
            )
            if i % 2 == 0:
                deltas.append(
                    {**common, "asset_id": token_id, "amount": 5, "block_time": T0 + timedelta(hours=i)}
                )
        await conn.execute(insert(balance_deltas), deltas)
    return Seeded(wallet_id=wallet_id, native_id=native_id, token_id=token_id, tx_ids=tx_ids)


async def _asset(conn: Any, key: str, symbol: str, decimals: int) -> int:
    from sqlalchemy import select
    from sqlalchemy.dialects.postgresql import insert as pg_insert

    await conn.execute(
        pg_insert(assets)
        .values(chain="solana", asset_key=key, symbol=symbol, name=symbol, decimals=decimals)
        .on_conflict_do_nothing()
    )
    asset_id: int = (
        await conn.execute(select(assets.c.id).where(assets.c.chain == "solana", assets.c.asset_key == key))
    ).scalar_one()
    return asset_id


# --- a Redis of our own, to stop mid-test -----------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class OwnRedis:
    """A redis-server child process on a free port (the shared Redis is never stopped)."""

    def __init__(self, workdir: Path) -> None:
        self.port = _free_port()
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=self.workdir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # wait until it accepts connections
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError("redis-server exited at start") from None
                time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    """A private redis-server this test may kill."""
    server = OwnRedis(tmp_path)
    server.start()
    yield server
    server.stop()


class FakeClock:
    """A monotonic clock the test advances by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
