"""Engines: read/write routing over replicas, skipping a dead replica, PgBouncer-safe options."""

from __future__ import annotations

from sqlalchemy import func, select

from walletsync.config import load_settings
from walletsync.db.engine import Database, engine_options


async def test_reads_round_robin_and_skip_a_dead_replica(database_url: str) -> None:
    """With one live and one unreachable replica, reads succeed and the dead one is marked failed."""
    dead = "postgresql://postgres@127.0.0.1:1/nowhere"
    settings = load_settings(database_url=database_url, database_replica_urls=[database_url, dead])
    db = Database.from_settings(database_url, settings)
    try:
        assert db.replica_count == 2
        live, down = db.replicas.replicas
        for _ in range(4):
            async with db.read() as conn:
                assert await conn.scalar(select(func.current_database())) == database_url.rsplit("/", 1)[1]
                assert conn.engine is live.engine  # never the primary: the live replica serves
        assert down.failed_at is not None
        assert live.failed_at is None
        assert live.name.endswith(f"/{database_url.rsplit('/', 1)[1]}")
        assert down.name == "127.0.0.1:1/nowhere"
    finally:
        await db.dispose()


async def test_writes_go_to_primary(database_url: str) -> None:
    """`write()` is a transaction on the primary, never a replica."""
    settings = load_settings(database_url=database_url, database_replica_urls=[database_url])
    db = Database.from_settings(database_url, settings)
    try:
        async with db.write() as conn:
            assert conn.engine is db.primary
            assert await conn.scalar(select(func.pg_is_in_recovery())) is False
    finally:
        await db.dispose()


async def test_pgbouncer_mode_disables_prepared_statement_caches(database_url: str) -> None:
    """WALLETSYNC_DATABASE_PGBOUNCER=true sets asyncpg's caches to 0 and unnamed statements; queries still run."""
    settings = load_settings(
        database_url=database_url, database_pgbouncer=True, database_direct_url=database_url
    )
    args = engine_options(settings)["connect_args"]
    assert args["statement_cache_size"] == 0
    assert args["prepared_statement_cache_size"] == 0
    assert args["prepared_statement_name_func"]() == ""  # unnamed: nothing outlives a transaction
    db = Database.from_settings(database_url, settings)
    try:
        async with db.read() as conn:
            for value in range(3):
                assert await conn.scalar(select(func.abs(-value))) == value
    finally:
        await db.dispose()


async def test_session_work_uses_the_direct_url(database_url: str, empty_database_url: str) -> None:
    """With DATABASE_DIRECT_URL set, advisory locks run on a direct engine, queries on the primary."""
    settings = load_settings(
        database_url=database_url, database_pgbouncer=True, database_direct_url=empty_database_url
    )
    db = Database.from_settings(database_url, settings)
    try:
        assert db.direct_url == empty_database_url
        async with db.session_engine.connect() as conn:
            assert await conn.scalar(select(func.current_database())) == empty_database_url.rsplit("/", 1)[1]
        async with db.read() as conn:
            assert await conn.scalar(select(func.current_database())) == database_url.rsplit("/", 1)[1]
    finally:
        await db.dispose()
