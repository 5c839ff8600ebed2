"""The exchange time zone of an instrument, which Twelve Data reads request bounds in.

Twelve Data reads `start_date`/`end_date` in the instrument's exchange-local time (UTC for crypto
and forex). A stock's bound sent in UTC lands hours off (4 or 5 for New York, depending on DST), so
an incremental sync skipped the bars in between. The zone comes from what the last time series
said (`meta.exchange_timezone`, recorded in `instruments.metadata`), else the exchanges catalog.
"""

from __future__ import annotations

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection

from walletsync.db.models import exchanges, instruments

KEY = "exchange_timezone"


async def exchange_timezone(conn: AsyncConnection, instrument_id: int) -> str | None:
    """The IANA zone of the instrument's exchange, or None (crypto and forex: UTC; or unknown)."""
    row = (
        await conn.execute(
            select(instruments.c.exchange, instruments.c.metadata[KEY].astext.label("zone")).where(
                instruments.c.id == instrument_id
            )
        )
    ).first()
    if row is None:
        return None
    if row.zone:
        return str(row.zone)
    if not row.exchange:
        return None
    zone = await conn.scalar(
        select(exchanges.c.timezone)
        .where(or_(exchanges.c.name == row.exchange, exchanges.c.code == row.exchange))
        .where(exchanges.c.timezone.is_not(None))
        .limit(1)
    )
    return str(zone) if zone else None


async def record_timezone(conn: AsyncConnection, instrument_id: int, zone: str) -> None:
    """Remember the zone a time series reported for the instrument (no write when unchanged)."""
    await conn.execute(
        update(instruments)
        .where(instruments.c.id == instrument_id)
        .where(instruments.c.metadata[KEY].astext.is_distinct_from(zone))
        .values(metadata=instruments.c.metadata.op("||")(func.jsonb_build_object(KEY, zone).cast(JSONB)))
    )
