"""Engines for the primary and the read replicas, pool settings, sessions, read/write routing.

One `Database` per process owns one engine per URL. Writes and read-your-writes paths use
`db.primary`; read-heavy paths take `db.read()`, which round-robins over the replicas, skipping one
that is down, lagging, or has not replayed a write the read must see (`db/replicas.py`), and falls
back to the primary.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import BigInteger, func, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from walletsync.config import Settings
from walletsync.db.array_types import learn_array_types
from walletsync.db.replicas import Replica, ReplicaSet, reading_after, replica_name


def async_url(url: str) -> URL:
    """`postgresql://...` (or any postgres driver) as a SQLAlchemy asyncpg URL."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql+asyncpg")


def libpq_url(url: str) -> str:
    """A plain `postgresql://` URL for libpq users (psycopg: Procrastinate, Alembic, pg_dump)."""
    parsed = make_url(url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)


def psycopg_url(url: str) -> URL:
    return make_url(url).set(drivername="postgresql+psycopg")


def dumps_json(value: Any) -> str:
    # orjson: raw transactions are stored as jsonb, and the stdlib encoder was a visible cost.
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:  # integers beyond 64 bits, which JSON allows
        return json.dumps(value)


def _pgbouncer_statement_name() -> str:
    # The unnamed statement: each Parse replaces the previous one, so nothing outlives its
    # transaction on a server connection that PgBouncer hands to the next client. Unique *names*
    # (the usual advice) avoid collisions but leak: asyncpg closes a statement lazily, on whatever
    # server its next transaction gets, and closing an unknown name is not an error, so every
    # statement stayed prepared on its server forever (tests/integration/test_pgbouncer.py saw it).
    return ""


def engine_options(settings: Settings, *, application_name: str = "walletsync") -> dict[str, Any]:
    connect_args: dict[str, Any] = {"server_settings": {"application_name": application_name}}
    if settings.database_pgbouncer:
        # PgBouncer in transaction mode hands each transaction any server connection, so asyncpg's
        # named prepared statements would be missing (or already exist) on the next one.
        connect_args |= {
            "statement_cache_size": 0,
            "prepared_statement_cache_size": 0,
            "prepared_statement_name_func": _pgbouncer_statement_name,
        }
    return {
        "json_serializer": dumps_json,
        "json_deserializer": orjson.loads,
        "pool_size": settings.database_pool_size,
        "max_overflow": settings.database_max_overflow,
        "pool_timeout": settings.database_pool_timeout_s,
        "pool_recycle": settings.database_pool_recycle_s,
        "pool_pre_ping": True,
        "pool_use_lifo": True,
        "connect_args": connect_args,
    }


def make_engine(url: str, settings: Settings, *, application_name: str = "walletsync") -> AsyncEngine:
    return create_async_engine(async_url(url), **engine_options(settings, application_name=application_name))


@dataclass
class Database:
    """The process's engines: one primary, zero or more replicas (routing in `db/replicas.py`)."""

    url: str
    primary: AsyncEngine
    replicas: ReplicaSet = field(default_factory=lambda: ReplicaSet([], max_lag_s=5.0))
    direct_url: str = ""
    _session: AsyncEngine | None = None

    def __post_init__(self) -> None:
        self.direct_url = self.direct_url or self.url

    @classmethod
    def from_settings(cls, url: str, settings: Settings, *, application_name: str = "walletsync") -> Database:
        primary = make_engine(url, settings, application_name=application_name)
        replicas = ReplicaSet(
            [
                Replica(
                    f"replica{i}",
                    replica_name(r),
                    make_engine(r, settings, application_name=f"{application_name}-ro"),
                )
                for i, r in enumerate(settings.database_replica_urls)
            ],
            max_lag_s=settings.replica_max_lag_s,
        )
        direct = settings.database_direct_url if settings.database_url == url else None
        session = None
        if direct and direct != url:
            # Session-level work only (advisory locks held across transactions): a small pool.
            session = create_async_engine(
                async_url(direct),
                pool_size=2,
                max_overflow=settings.database_max_overflow,
                pool_pre_ping=True,
                connect_args={"server_settings": {"application_name": f"{application_name}-session"}},
            )
        return cls(url=url, primary=primary, replicas=replicas, direct_url=direct or url, _session=session)

    @property
    def session_engine(self) -> AsyncEngine:
        """The engine for session-scoped work (advisory locks): direct to PostgreSQL, never PgBouncer."""
        return self._session or self.primary

    @property
    def replica_count(self) -> int:
        return len(self.replicas)

    def replica_engines(self) -> list[AsyncEngine]:
        """The replica engines in configuration order (for pool metrics)."""
        return [replica.engine for replica in self.replicas.replicas]

    async def write_position(self) -> int | None:
        """The primary's current WAL position (bytes), or None when there is no replica to wait for.

        Taken after a write commits, it is at or past that write's commit record: a replica whose
        replay position reached it serves the write's effects.
        """
        if not self.replicas.replicas:
            return None
        async with self.primary.connect() as conn:
            position = await conn.scalar(select(func.pg_current_wal_lsn(type_=BigInteger)))
        return int(position) if position is not None else None

    @asynccontextmanager
    async def read(self, *, after_lsn: int | None = None) -> AsyncIterator[AsyncConnection]:
        """A connection for a read-only unit of work: a usable replica, else the primary.

        `after_lsn` (or an enclosing `reading_after()`) names a WAL position the read must see.
        """
        with reading_after(after_lsn):
            conn = await self.replicas.connect()
        if conn is None:
            async with self.primary.connect() as primary:
                yield primary
            return
        try:
            yield conn
        finally:
            await conn.close()

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A transaction on the primary: committed when the block ends, rolled back on error."""
        async with self.primary.begin() as conn:
            yield conn

    async def warm(self, connections: int) -> None:
        """Open `connections` pooled connections to the primary now, together (keep it <= the pool size),
        each with every array type learnt (`db/array_types.py`).

        A new connection costs a backend start and asyncpg's type introspection: 10-20 ms that a
        process should pay at start-up, not on its first sync's critical path (the pool hands out
        its most recent connections first, so these are the ones a quiet process keeps using).
        Raises what opening one raised, after closing the others.
        """

        async def open_one(conn: AsyncConnection) -> None:
            await conn.start()
            try:
                await learn_array_types(conn)
                # Ended at once: behind PgBouncer an open transaction holds a server connection,
                # and four of them waiting on each other could outnumber its pool.
                await conn.rollback()
            except BaseException:
                await conn.close()
                raise

        pending = [self.primary.connect() for _ in range(connections)]
        opened = await asyncio.gather(*(open_one(conn) for conn in pending), return_exceptions=True)
        await asyncio.gather(
            *(
                conn.close()
                for conn, result in zip(pending, opened, strict=True)
                if not isinstance(result, BaseException)
            )
        )
        for result in opened:
            if isinstance(result, BaseException):
                raise result

    async def dispose(self) -> None:
        await self.primary.dispose()
        if self._session is not None:
            await self._session.dispose()
        await self.replicas.dispose()
