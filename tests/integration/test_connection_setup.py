"""A pooled connection's set-up: array types learnt before the first page, connections opened at start-up.

asyncpg introspects an array type the first time a connection binds one (a catalog query and two
JIT toggles, each a round trip); a sync's page writer binds arrays of five types. `Database.warm`
opens the connections a process starts with and has each learn every array type at once
(`db/array_types.py`), so a page written on one runs no introspection.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from asyncpg.connection import LoggedQuery
from sqlalchemy import func, insert, select
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.ext.asyncio import AsyncConnection

from walletsync.config import Chain, load_settings
from walletsync.db.engine import Database
from walletsync.db.models import assets, balance_deltas, wallet_transactions, wallets
from walletsync.indexing.store import AssetIds, WalletTx, store_batch
from walletsync.providers.types import BalanceDelta, ChainTx
from walletsync.services import open_services

ADDRESS = "So11111111111111111111111111111111111111112"
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def _page(first: int, size: int) -> list[WalletTx]:
    page = []
    for n in range(first, first + size):
        amounts = {"native": 1_000 + n} | ({"MINT": -n} if n % 2 else {})
        deltas = tuple(BalanceDelta(owner=ADDRESS, asset=a, amount=v) for a, v in amounts.items())
        tx = ChainTx(Chain.SOLANA, f"tx{n}", 100 + n, T0 + timedelta(minutes=n), 5000, True, deltas, ADDRESS)
        page.append(WalletTx(tx=tx, amounts=amounts, fee=5000))
    return page


async def _seed(db: Database) -> tuple[int, AssetIds]:
    async with db.write() as conn:
        wallet_id = await conn.scalar(
            insert(wallets).values(chain="solana", address=ADDRESS).returning(wallets.c.id)
        )
        await conn.execute(
            insert(assets),
            [
                {"chain": "solana", "asset_key": "native", "symbol": "SOL", "decimals": 9},
                {"chain": "solana", "asset_key": "MINT", "symbol": "MNT", "decimals": 6},
            ],
        )
        ids = AssetIds()
        await ids.load(conn, Chain.SOLANA, ["native", "MINT"])
    assert wallet_id is not None
    return wallet_id, ids


async def _logged(conn: AsyncConnection) -> list[LoggedQuery]:
    """Every query asyncpg runs on `conn` from now on, introspection included."""
    raw: Any = (await conn.get_raw_connection()).driver_connection
    queries: list[LoggedQuery] = []
    raw.add_query_logger(queries.append)
    return queries


async def test_a_warmed_connection_writes_its_pages_without_type_introspection(db: Database) -> None:
    """Twelve pages (links, deltas, events, cursor) on the connection `warm` opened: no introspection
    in any of them, and every page stored (generic plans after five runs)."""
    wallet_id, ids = await _seed(db)
    await db.primary.dispose()  # no connection left: the next one is the one `warm` opens
    await db.warm(1)
    async with db.primary.connect() as conn:
        queries = await _logged(conn)
        for page in range(12):
            async with conn.begin():
                new = await store_batch(
                    conn,
                    wallet_id=wallet_id,
                    chain=Chain.SOLANA,
                    address=ADDRESS,
                    batch=_page(page * 10, 10),
                    asset_ids=ids,
                    cursor={"page": page},
                )
            assert new == 10
    assert queries, "the query logger saw nothing: the check below would pass vacuously"
    introspections = [q.query for q in queries if "typeinfo_tree" in q.query or "set_config('jit'" in q.query]
    assert introspections == []
    async with db.read() as conn:
        # 120 links; 120 SOL deltas and 60 token deltas (odd n): hand-counted from `_page`.
        assert await conn.scalar(select(func.count()).select_from(wallet_transactions)) == 120
        assert await conn.scalar(select(func.count()).select_from(balance_deltas)) == 180


async def test_warm_opens_pooled_connections_together(database_url: str) -> None:
    settings = load_settings(database_url=database_url, database_pool_size=5)
    db = Database.from_settings(database_url, settings)
    try:
        await db.warm(3)
        pool: Any = db.primary.pool
        assert pool.checkedin() == 3  # opened, set up and back in the pool
        assert pool.checkedout() == 0
    finally:
        await db.dispose()


async def test_warm_raises_what_opening_raised(database_url: str) -> None:
    dead = "postgresql://postgres@127.0.0.1:1/nowhere"
    db = Database.from_settings(dead, load_settings(database_url=dead))
    try:
        with pytest.raises(ConnectionRefusedError):
            await db.warm(2)
        pool: Any = db.primary.pool
        assert pool.checkedout() == 0
    finally:
        await db.dispose()


async def test_the_pool_hands_out_its_most_recent_connection_first(database_url: str) -> None:
    """A quiet process keeps reusing one warm backend instead of cycling through all it opened."""
    db = Database.from_settings(database_url, load_settings(database_url=database_url, database_pool_size=4))
    try:
        await db.warm(4)
        backends = []
        for _ in range(6):
            async with db.write() as conn:
                backends.append(await conn.scalar(select(func.pg_backend_pid())))
        assert len(set(backends)) == 1, backends
    finally:
        await db.dispose()


async def test_services_on_an_unmigrated_database_raise_with_no_connection_left_opening(
    empty_database_url: str, tmp_path: Path
) -> None:
    """The first read fails (no tables) while `warm` is still opening connections: the error is
    raised only once `warm` is done, so nothing goes on opening into a pool being disposed."""
    settings = load_settings(
        database_url=empty_database_url, data_dir=tmp_path, redis_url=None, auto_migrate=False
    )
    before = asyncio.all_tasks()
    with pytest.raises(ProgrammingError, match="provider_endpoints"):
        async with open_services(settings, empty_database_url):
            pass
    assert asyncio.all_tasks() - before == set()
