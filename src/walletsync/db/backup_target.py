"""The database a backup or restore works on, seen through short synchronous connections.

One connection at a time (`NullPool`) under the command's application name, so that restore's
"who else is connected" check (`walletsync_connections`) can tell our own sessions from the API's
and workers'; a failure to connect becomes a one-line `BackupToolError` with the password masked.
Also the two facts both commands read first: the server's major version (which client tools to
use) and the schema revision Alembic recorded.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, column, create_engine, func, pool, select, table
from sqlalchemy.exc import OperationalError

from walletsync.db.engine import psycopg_url
from walletsync.db.pgtools import BackupToolError, connection_for

_activity = table("pg_stat_activity", column("pid"), column("datname"), column("application_name"))


@contextmanager
def connect_target(url: str, application_name: str) -> Iterator[Engine]:
    """A one-connection-at-a-time engine; a failure to connect becomes a one-line `BackupToolError`."""
    engine = create_engine(
        psycopg_url(url), poolclass=pool.NullPool, connect_args={"application_name": application_name}
    )
    try:
        yield engine
    except OperationalError as exc:
        if not exc.connection_invalidated and "connection" not in str(exc.orig).lower():
            raise
        target = connection_for(url)
        reason = " ".join(line.strip() for line in str(exc.orig).splitlines() if line.strip())
        reason = target.redact(reason.removeprefix("connection failed: ") or "connection failed")
        raise BackupToolError(f"cannot connect to {target.display}: {reason}") from None
    finally:
        engine.dispose()


def server_major_version(conn: Connection) -> int:
    version_num = conn.scalar(select(func.current_setting("server_version_num")))
    return int(str(version_num)) // 10_000


def current_revision(conn: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    heads = MigrationContext.configure(conn).get_current_heads()
    return heads[0] if heads else None


def walletsync_connections(conn: Connection) -> dict[str, int]:
    """Other sessions on this database whose application name starts with `walletsync`, by name."""
    rows = conn.execute(
        select(_activity.c.application_name, func.count())
        .where(
            _activity.c.datname == func.current_database(),
            _activity.c.pid != func.pg_backend_pid(),
            _activity.c.application_name.like("walletsync%"),
        )
        .group_by(_activity.c.application_name)
        .order_by(_activity.c.application_name)
    )
    return {str(name): int(count) for name, count in rows}
