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
from walletsync.preflight import check_databases, safe_url

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


def prepare_database(settings: Settings, *, auto_migrate: bool | None = None) -> DatabaseTarget:
    """Resolve the database (starting the embedded one if needed) and make sure its schema is current.

    A configured server is checked first (one short connection): a wrong or unreachable URL fails
    here with one line naming the setting. Then, for ordinary commands (`auto_migrate=None`), the
    schema is migrated to the head when `WALLETSYNC_AUTO_MIGRATE` allows and `migrate down` has not
    held it, and an older schema is refused with one line. `auto_migrate=False` is for the commands
    that look at the schema themselves (migrate, backup, restore, doctor).
    """
    embedded = not settings.database_url
    if embedded:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    else:
        check_databases(settings)
    url = resolve_database_url(settings.database_url, settings.data_dir)
    target = DatabaseTarget(url=url, embedded=embedded, direct_url=settings.database_direct_url)
    if auto_migrate is not False:
        status = migrate.ensure_current(
            target.migration_url, auto_migrate=settings.auto_migrate or bool(auto_migrate)
        )
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
