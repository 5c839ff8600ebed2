"""Shared fixtures: a real PostgreSQL (local server or embedded) and a real Redis, never mocks.

- `WALLETSYNC_TEST_DATABASE_URL`: an admin URL of a PostgreSQL server (e.g.
  `postgresql://postgres@127.0.0.1:5432/postgres`). Each test run creates its own database there and
  drops it at the end. Unset: an embedded server is started in a temporary data dir.
- `WALLETSYNC_TEST_REDIS_URL`: a Redis URL (e.g. `redis://127.0.0.1:6379/15`). Unset or unreachable:
  tests marked `redis` skip, except under `CI=true`, where they fail.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlparse

import psycopg
import pytest
from psycopg import sql
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import text

# Throwaway primary/replica servers (tests/pgcluster.py), for tests that stop, kill or lag a database.
from tests.pgcluster import pg_cluster, pg_cluster_factory  # noqa: F401
from walletsync.config import Settings, load_settings
from walletsync.db import migrate
from walletsync.db.engine import Database, libpq_url

REAL_RESPONSES = Path(__file__).resolve().parents[2] / "shared" / "real-responses"


class TestEnv(BaseSettings):
    """Environment the test suite reads (the app's own settings never read these)."""

    __test__ = False
    model_config = SettingsConfigDict(extra="ignore")

    database_url: str | None = Field(default=None, validation_alias="WALLETSYNC_TEST_DATABASE_URL")
    redis_url: str | None = Field(default=None, validation_alias="WALLETSYNC_TEST_REDIS_URL")
    ci: bool = Field(default=False, validation_alias="CI")


@pytest.fixture(scope="session")
def test_env() -> TestEnv:
    return TestEnv()


@pytest.fixture(scope="session")
def real_responses() -> Path:
    """The shared folder of real provider responses; tests using it skip where it is absent."""
    if not REAL_RESPONSES.is_dir():
        pytest.skip(f"real provider responses not found at {REAL_RESPONSES}")
    return REAL_RESPONSES


@pytest.fixture(scope="session")
def pg_admin_url(test_env: TestEnv, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Admin URL of the PostgreSQL server the tests use."""
    if test_env.database_url:
        yield libpq_url(test_env.database_url)
        return
    from walletsync.db.embedded import start_embedded, stop_embedded

    data_dir = tmp_path_factory.mktemp("embedded-pg")
    embedded = start_embedded(data_dir, database="postgres")
    yield embedded.url("postgres")
    stop_embedded(data_dir)


def _with_database(admin_url: str, name: str) -> str:
    parsed = urlparse(admin_url)
    return parsed._replace(path=f"/{name}").geturl()


def create_database(admin_url: str, prefix: str = "walletsync_test") -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return _with_database(admin_url, name)


def drop_database(admin_url: str, url: str) -> None:
    name = urlparse(url).path.lstrip("/")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def database_url(pg_admin_url: str) -> Iterator[str]:
    """A database of this test run, migrated to head, dropped at the end."""
    url = create_database(pg_admin_url)
    migrate.upgrade(url)
    yield url
    drop_database(pg_admin_url, url)


@pytest.fixture
def empty_database_url(pg_admin_url: str) -> Iterator[str]:
    """A fresh, unmigrated database for one test."""
    url = create_database(pg_admin_url, prefix="walletsync_mig")
    yield url
    drop_database(pg_admin_url, url)


# Every table walletsync owns, truncated between tests so each starts empty.
_TABLES = (
    "wallets, sync_state, transactions, assets, balance_deltas, wallet_transactions, exchanges, "
    "instruments, candles, asset_prices, outbox, webhooks, webhook_deliveries, api_keys, "
    "provider_endpoints, job_failures, current_balances, procrastinate_jobs, procrastinate_events, "
    "procrastinate_periodic_defers, procrastinate_workers, provider_credits, web_sessions, web_signin_tokens, "
    "provider_stats, staking_balances"
)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Settings pointing at the test database; no providers, in-process cache."""
    return load_settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        redis_url=None,
        auto_migrate=False,
    )


@pytest.fixture
async def db(database_url: str, settings: Settings) -> AsyncIterator[Database]:
    """The test database, emptied before the test; engines disposed after."""
    database = Database.from_settings(database_url, settings)
    async with database.primary.begin() as conn:
        await conn.execute(text(f"TRUNCATE {_TABLES} RESTART IDENTITY CASCADE"))
    yield database
    await database.dispose()


def _reachable(url: str) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 6379), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def redis_url(test_env: TestEnv) -> str:
    """A reachable Redis URL, or skip (fail under CI=true)."""
    url = test_env.redis_url
    if url and _reachable(url):
        return url
    reason = "WALLETSYNC_TEST_REDIS_URL unset" if not url else f"Redis not reachable at {url}"
    if test_env.ci:
        pytest.fail(f"{reason}; CI=true requires every service")
    pytest.skip(reason)
