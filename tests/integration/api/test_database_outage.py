"""While PostgreSQL is down the API answers 503 problem+json with Retry-After, then recovers by itself.

The database is a throwaway server (`tests/pgcluster.py`) stopped and restarted under the app.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.pgcluster import PgCluster, pg_cluster_factory  # noqa: F401 - the fixture
from walletsync.api.app import create_app
from walletsync.api.keys import create_key, key_memo
from walletsync.config import load_settings
from walletsync.db import migrate
from walletsync.db.engine import Database


@pytest.mark.slow
async def test_reads_are_503_with_retry_after_while_postgres_is_down(
    pg_cluster_factory: Callable[..., PgCluster],  # noqa: F811
    tmp_path: Path,
) -> None:
    cluster = pg_cluster_factory()
    url = cluster.create_database("walletsync")
    migrate.upgrade(url)
    settings = load_settings(database_url=url, data_dir=tmp_path, redis_url=None, auto_migrate=False)
    database = Database.from_settings(url, settings)
    async with database.write() as conn:
        key = (await create_key(conn, name="reader", scope="read")).key
    headers = {"Authorization": f"Bearer {key}"}
    key_memo().clear()
    app = create_app(settings, database=database)
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
        ):
            assert (await client.get("/v1/wallets", headers=headers)).status_code == 200

            cluster.primary.stop()
            try:
                for _ in range(3):  # the pooled connection dies first, then new ones are refused
                    down = await client.get("/v1/wallets", headers=headers)
                    assert down.status_code == 503, down.text
                    assert down.headers["content-type"] == "application/problem+json"
                    assert down.headers["retry-after"] == "5"
                    assert down.json() == {
                        "type": "urn:walletsync:problem:database-unavailable",
                        "title": "Database unavailable",
                        "status": 503,
                        "detail": "the database cannot be reached right now; retry shortly",
                    }
                assert (await client.get("/healthz")).status_code == 200  # alive, only not ready
            finally:
                cluster.primary.start()

            back = await client.get("/v1/wallets", headers=headers)
            assert back.status_code == 200, back.text
    finally:
        key_memo().clear()
        await database.dispose()
