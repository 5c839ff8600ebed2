"""TimescaleDB, where the extension exists: `candles` as a hypertable, compression, a daily-close aggregate.

Used only by migrations. On plain PostgreSQL `candles` stays an ordinary table with the same columns
and primary key, and `candles_daily_close` is a plain view of the same shape, so every query works on
both. The SQL is kept small and each
statement is guarded by the extension check; operators read about it in docs/market-data.md.
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


# Daily closes are derived from the hourly candles: the last 1h close of each UTC day. The SQL below
# spells out both names (candles_daily_close, '1h') as literals.
DAILY_CLOSE_SOURCE_INTERVAL = "1h"

_CONTINUOUS_DAILY_CLOSE = """
CREATE MATERIALIZED VIEW IF NOT EXISTS candles_daily_close
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT instrument_id, time_bucket(INTERVAL '1 day', ts) AS day, last(close, ts) AS close
FROM candles
WHERE "interval" = '1h'
GROUP BY instrument_id, time_bucket(INTERVAL '1 day', ts)
WITH NO DATA
"""

_PLAIN_DAILY_CLOSE = """
CREATE OR REPLACE VIEW candles_daily_close AS
SELECT DISTINCT ON (instrument_id, date_trunc('day', ts, 'UTC'))
    instrument_id, date_trunc('day', ts, 'UTC') AS day, close
FROM candles
WHERE "interval" = '1h'
ORDER BY instrument_id, date_trunc('day', ts, 'UTC'), ts DESC
"""


def candles_is_hypertable(conn: Connection) -> bool:
    if not extension_installed(conn):
        return False
    hypertables = table("hypertables", column("hypertable_name"), schema="timescaledb_information")
    return bool(conn.scalar(select(exists().where(hypertables.c.hypertable_name == "candles"))))


def create_daily_close_view(conn: Connection) -> str:
    """Create `candles_daily_close(instrument_id, day, close)`; return "continuous" or "view".

    With TimescaleDB it is a continuous aggregate, created `WITH NO DATA` because a continuous
    aggregate that materializes on creation cannot run inside a transaction block (Alembic runs each
    revision in one); its refresh policy fills it, and `materialized_only = false` lets queries see
    rows the policy has not materialized yet. On plain PostgreSQL it is an ordinary view with the
    same columns, so readers query one name either way.
    """
    if candles_is_hypertable(conn):
        savepoint = conn.begin_nested()
        try:
            conn.execute(text(_CONTINUOUS_DAILY_CLOSE))
            conn.execute(
                text(
                    "SELECT add_continuous_aggregate_policy('candles_daily_close',"
                    " start_offset => INTERVAL '3 days', end_offset => INTERVAL '1 hour',"
                    " schedule_interval => INTERVAL '1 hour', if_not_exists => TRUE)"
                )
            )
        except Exception as exc:  # noqa: BLE001 - an old TimescaleDB: fall back to the plain view
            savepoint.rollback()
            log.warning("db.timescale.continuous_aggregate_unusable", error=str(exc).splitlines()[0])
        else:
            savepoint.commit()
            log.info("db.timescale.continuous_aggregate", view=DAILY_CLOSE_VIEW)
            return "continuous"
    conn.execute(text(_PLAIN_DAILY_CLOSE))
    return "view"


def drop_daily_close_view(conn: Connection) -> None:
    """Drop `candles_daily_close`, whichever kind it is."""
    if extension_installed(conn):
        caggs = table("continuous_aggregates", column("view_name"), schema="timescaledb_information")
        if conn.scalar(select(exists().where(caggs.c.view_name == DAILY_CLOSE_VIEW))):
            conn.execute(text("DROP MATERIALIZED VIEW IF EXISTS candles_daily_close"))
            return
    conn.execute(text("DROP VIEW IF EXISTS candles_daily_close"))
