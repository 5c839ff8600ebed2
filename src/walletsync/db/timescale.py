"""TimescaleDB, where the extension exists: `candles` as a hypertable, compression, a daily-close aggregate.

Used only by migrations. On plain PostgreSQL nothing here runs and `candles` stays an ordinary table
with the same columns and primary key, so every query works on both. The SQL is kept small and each
statement is guarded by the extension check; operators read about it in docs/operations.md.
"""

from __future__ import annotations

import structlog
from sqlalchemy import Connection, column, exists, select, table, text

log = structlog.get_logger(__name__)

_available = table("pg_available_extensions", column("name"))
_installed = table("pg_extension", column("extname"))

DAILY_CLOSE_VIEW = "candles_daily_close"


def extension_available(conn: Connection) -> bool:
    return bool(conn.scalar(select(exists().where(_available.c.name == "timescaledb"))))


def extension_installed(conn: Connection) -> bool:
    return bool(conn.scalar(select(exists().where(_installed.c.extname == "timescaledb"))))


def enable_hypertable(conn: Connection) -> bool:
    """Turn `candles` into a hypertable when TimescaleDB can be loaded; return whether it did."""
    if not extension_available(conn):
        log.info("db.timescale.absent", detail="candles stays a plain table")
        return False
    savepoint = conn.begin_nested()
    try:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS timescaledb"))
        conn.execute(
            text(
                "SELECT create_hypertable('candles', 'ts', chunk_time_interval => INTERVAL '30 days',"
                " if_not_exists => TRUE, migrate_data => TRUE)"
            )
        )
        conn.execute(
            text(
                "ALTER TABLE candles SET (timescaledb.compress,"
                " timescaledb.compress_segmentby = 'instrument_id, interval')"
            )
        )
        conn.execute(
            text("SELECT add_compression_policy('candles', INTERVAL '90 days', if_not_exists => TRUE)")
        )
    except Exception as exc:  # noqa: BLE001 - installed but not preloaded, or too old: stay plain
        savepoint.rollback()
        log.warning("db.timescale.unusable", error=str(exc).splitlines()[0])
        return False
    savepoint.commit()
    log.info("db.timescale.hypertable", table="candles")
    return True
