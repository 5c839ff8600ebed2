"""The Procrastinate app: one per process, opened on the walletsync database when a worker starts.

Tasks are declared on the module-level `app` at import (`walletsync.jobs.tasks`); the connection
pool is given when the app opens (`open_app`), so tests and commands point it at any database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import procrastinate

from walletsync.db.engine import libpq_url

SYNC_QUEUE = "sync"
MARKET_QUEUE = "market"
MAINTENANCE_QUEUE = "maintenance"
QUEUES = (SYNC_QUEUE, MARKET_QUEUE, MAINTENANCE_QUEUE)

app = procrastinate.App(connector=procrastinate.PsycopgConnector())


@asynccontextmanager
async def open_app(database_url: str, *, max_pool_size: int = 10) -> AsyncIterator[procrastinate.App]:
    """Open the app on `database_url` for the block (workers and the job CLI need it open)."""
    import walletsync.jobs.tasks  # noqa: F401 - registers the tasks on `app`

    connector = procrastinate.PsycopgConnector(
        conninfo=libpq_url(database_url),
        min_size=1,
        max_size=max_pool_size,
        kwargs={"application_name": "walletsync-jobs"},
    )
    with app.replace_connector(connector):
        await app.open_async()
        try:
            yield app
        finally:
            await app.close_async()
