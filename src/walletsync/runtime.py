"""Process start-up shared by every command: settings, logging, the database URL, auto-migration.

`prepare_database(settings)` is synchronous (it may start the embedded server and run Alembic);
commands call it before their event loop starts.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass

import structlog

from walletsync.config import Settings
from walletsync.db import migrate
from walletsync.db.embedded import pgdata_dir, resolve_database_url

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class DatabaseTarget:
    url: str
    embedded: bool
    direct_url: str | None = None  # DATABASE_DIRECT_URL: a session connection, bypassing PgBouncer

    @property
    def migration_url(self) -> str:
        """Where migrations run: they hold a session-level advisory lock, so never through PgBouncer."""
        return self.direct_url or self.url

    def describe(self, settings: Settings) -> str:
        if self.embedded:
            return f"embedded PostgreSQL in {pgdata_dir(settings.data_dir)}"
        return f"PostgreSQL at {safe_url(self.url)}"


def safe_url(url: str) -> str:
    """The URL with any password masked, for printing."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def prepare_database(settings: Settings, *, auto_migrate: bool | None = None) -> DatabaseTarget:
    """Resolve the database (starting the embedded one if needed) and migrate it when configured."""
    embedded = not settings.database_url
    if embedded:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    url = resolve_database_url(settings.database_url, settings.data_dir)
    should_migrate = settings.auto_migrate if auto_migrate is None else auto_migrate
    target = DatabaseTarget(url=url, embedded=embedded, direct_url=settings.database_direct_url)
    if should_migrate:
        status = migrate.upgrade(target.migration_url)
        log.info("db.migrated", current=list(status.current), head=status.head)
    return target


# Young-generation collections every 50,000 allocations instead of 700. A backfill keeps two pages
# of decoded provider JSON alive (hundreds of thousands of small objects); with the default
# threshold the collector rescans them constantly. Measured with bench/backfill.py: 3,300 -> 4,600
# tx/s, for ~40 MB more peak memory. Reference cycles are still collected, just less often.
GC_THRESHOLDS = (50_000, 20, 100)


def tune_gc_for_throughput() -> None:
    """Long-running indexing processes (worker, serve, sync, demo) call this once at start."""
    gc.set_threshold(*GC_THRESHOLDS)
