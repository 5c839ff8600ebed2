"""Read/write split: read routes use a replica (round-robin, a failed one skipped); writes, auth and
read-your-writes routes use the primary.

The "replica" is a second migrated database holding different rows, so where each answer came from
is visible in the answer itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import insert, select

from tests.conftest import create_database, drop_database
from tests.integration.api.conftest import SOLANA_ADDRESSES, Api, Keys
from walletsync.config import Settings
from walletsync.db import migrate
from walletsync.db.engine import Database
from walletsync.db.models import wallets

pytestmark = pytest.mark.redis

DEAD_REPLICA = "postgresql://postgres@127.0.0.1:1/nowhere"


@pytest.fixture
def replica_url(pg_admin_url: str) -> Iterator[str]:
    url = create_database(pg_admin_url, prefix="walletsync_replica")
    migrate.upgrade(url)
    yield url
    drop_database(pg_admin_url, url)


async def _start(
    make_api: Callable[..., Any], api_settings: Settings, database_url: str, replicas: list[str]
) -> tuple[Api, Database]:
    settings = api_settings.model_copy(update={"database_replica_urls": replicas})
    database = Database.from_settings(database_url, settings)
    api: Api = await make_api(settings, database=database)
    return api, database


async def test_reads_use_the_replica_and_writes_the_primary(
    make_api: Callable[..., Any], api_settings: Settings, database_url: str, replica_url: str, keys: Keys
) -> None:
    """GET /wallets answers from the replica; POST /wallets writes to the primary; keys are checked there."""
    replica = Database.from_settings(replica_url, api_settings)
    try:
        async with replica.write() as conn:
            await conn.execute(insert(wallets).values(chain="solana", address=SOLANA_ADDRESSES[3]))
        api, database = await _start(make_api, api_settings, database_url, [replica_url])
        try:
            created = await api.client.post(
                "/v1/wallets", json={"chain": "solana", "address": SOLANA_ADDRESSES[0]}, headers=keys.write
            )
            assert created.status_code == 201  # the key exists only on the primary: auth read it there
            listed = (await api.client.get("/v1/wallets", headers=keys.read)).json()
            assert [w["address"] for w in listed["items"]] == [SOLANA_ADDRESSES[3]]  # the replica's rows

            job = await api.client.get(f"/v1/jobs/{created.json()['sync_job_id']}", headers=keys.read)
            assert job.status_code == 200  # read-your-writes: jobs are read on the primary
            async with database.primary.connect() as conn:
                on_primary = (await conn.execute(select(wallets.c.address))).scalars().all()
            assert on_primary == [SOLANA_ADDRESSES[0]]
        finally:
            await database.dispose()
    finally:
        await replica.dispose()


async def test_a_failed_replica_is_skipped(
    make_api: Callable[..., Any], api_settings: Settings, database_url: str, replica_url: str, keys: Keys
) -> None:
    """With one dead and one live replica, every read succeeds; once the dead one failed, reads go to the live one."""
    replica = Database.from_settings(replica_url, api_settings)
    try:
        async with replica.write() as conn:
            await conn.execute(insert(wallets).values(chain="solana", address=SOLANA_ADDRESSES[2]))
        api, database = await _start(make_api, api_settings, database_url, [DEAD_REPLICA, replica_url])
        try:
            answers = [(await api.client.get("/v1/wallets", headers=keys.read)) for _ in range(6)]
            assert {a.status_code for a in answers} == {200}
            # The first read may fall back to the (empty) primary when it meets the dead replica.
            later = [[w["address"] for w in a.json()["items"]] for a in answers[1:]]
            assert later == [[SOLANA_ADDRESSES[2]]] * 5
        finally:
            await database.dispose()
    finally:
        await replica.dispose()
