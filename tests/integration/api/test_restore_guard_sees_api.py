"""A started API holds a connection before its first request, so the restore guard sees it."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, pool

from walletsync.api.app import create_app
from walletsync.config import load_settings
from walletsync.db.backup_target import walletsync_connections
from walletsync.db.engine import psycopg_url


async def test_an_api_that_served_nothing_yet_is_listed(database_url: str, tmp_path: Path) -> None:
    settings = load_settings(database_url=database_url, data_dir=tmp_path, redis_url=None, auto_migrate=False)
    app = create_app(settings)
    engine = create_engine(psycopg_url(database_url), poolclass=pool.NullPool)
    try:
        async with app.router.lifespan_context(app):
            with engine.connect() as conn:
                assert walletsync_connections(conn) == {"walletsync-api": 1}
    finally:
        engine.dispose()
