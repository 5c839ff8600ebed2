"""Exchange and instrument catalogs as idempotent upserts into `exchanges` and `instruments`.

Each row is keyed by its natural key (`kind, name, code` / `kind, symbol, exchange`); a re-run with the
same data writes nothing (the update is guarded by `IS DISTINCT FROM`, so `updated_at` only moves when a
field really changed), and a renamed field updates the row in place, keeping its id.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Table, func, literal_column, or_, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from walletsync.db.models import exchanges, instruments
from walletsync.market.candles import like_pattern
from walletsync.providers.types import ExchangeInfo, InstrumentInfo

# asyncpg allows 32767 bind parameters per statement; instruments have 9 columns.
BATCH_ROWS = 2000


@dataclass(slots=True)
class UpsertCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    @property
    def total(self) -> int:
        return self.inserted + self.updated + self.unchanged

    def __iadd__(self, other: UpsertCounts) -> UpsertCounts:
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged
        return self


def _exchange_row(item: ExchangeInfo) -> dict[str, Any]:
    return {
        "kind": item.kind,
        "name": item.name,
        "code": item.code or "",
        "country": item.country,
        "timezone": item.timezone,
    }


def _instrument_row(item: InstrumentInfo) -> dict[str, Any]:
    return {
        "kind": item.kind,
        "symbol": item.symbol,
        "exchange": item.exchange or "",
        "name": item.name,
        "currency_base": item.currency_base,
        "currency_quote": item.currency_quote,
        "country": item.country,
        "instrument_type": item.instrument_type,
        "metadata": item.metadata,
    }


async def _upsert(
    conn: AsyncConnection, table: Table, keys: Sequence[str], rows: Iterable[dict[str, Any]]
) -> UpsertCounts:
    # One statement may not touch a row twice: the last occurrence of a key wins.
    unique = list({tuple(row[k] for k in keys): row for row in rows}.values())
    counts = UpsertCounts()
    for start in range(0, len(unique), BATCH_ROWS):
        batch = unique[start : start + BATCH_ROWS]
        insert = pg_insert(table).values(batch)
        fields = [name for name in batch[0] if name not in keys]
        changed: ColumnElement[bool] = tuple_(*(table.c[f] for f in fields)).is_distinct_from(
            tuple_(*(insert.excluded[f] for f in fields))
        )
        stmt = insert.on_conflict_do_update(
            index_elements=[table.c[k] for k in keys],
            set_={**{f: insert.excluded[f] for f in fields}, "updated_at": func.now()},
            where=changed,
        ).returning(literal_column("xmax") == literal_column("0"))
        # xmax is 0 on a freshly inserted row version and set on an updated one.
        written = (await conn.execute(stmt)).scalars().all()
        inserted = sum(1 for fresh in written if fresh)
        counts += UpsertCounts(inserted, len(written) - inserted, len(batch) - len(written))
    return counts


async def upsert_exchanges(conn: AsyncConnection, items: Iterable[ExchangeInfo]) -> UpsertCounts:
    return await _upsert(conn, exchanges, ("kind", "name", "code"), map(_exchange_row, items))


async def upsert_instruments(conn: AsyncConnection, items: Iterable[InstrumentInfo]) -> UpsertCounts:
    return await _upsert(conn, instruments, ("kind", "symbol", "exchange"), map(_instrument_row, items))


@dataclass(frozen=True, slots=True)
class ExchangeRow:
    id: int
    kind: str
    name: str
    code: str
    country: str | None
    timezone: str | None


async def list_exchanges(
    conn: AsyncConnection, *, kind: str | None = None, after_id: int | None = None, limit: int = 100
) -> list[ExchangeRow]:
    """Stored exchanges by id, keyset-paginated after `after_id`."""
    query = select(
        exchanges.c.id,
        exchanges.c.kind,
        exchanges.c.name,
        exchanges.c.code,
        exchanges.c.country,
        exchanges.c.timezone,
    ).order_by(exchanges.c.id)
    if kind is not None:
        query = query.where(exchanges.c.kind == kind)
    if after_id is not None:
        query = query.where(exchanges.c.id > after_id)
    rows = await conn.execute(query.limit(limit))
    return [ExchangeRow(r.id, r.kind, r.name, r.code, r.country, r.timezone) for r in rows]


async def search_exchanges(conn: AsyncConnection, text: str, *, limit: int = 20) -> list[ExchangeRow]:
    """Stored exchanges whose name or code contains `text` (case-insensitive), by name."""
    text = text.strip()
    if not text:
        return []
    pattern = like_pattern(text)
    rows = await conn.execute(
        select(
            exchanges.c.id,
            exchanges.c.kind,
            exchanges.c.name,
            exchanges.c.code,
            exchanges.c.country,
            exchanges.c.timezone,
        )
        .where(
            or_(exchanges.c.name.ilike(pattern, escape="\\"), exchanges.c.code.ilike(pattern, escape="\\"))
        )
        .order_by(exchanges.c.name, exchanges.c.id)
        .limit(limit)
    )
    return [ExchangeRow(r.id, r.kind, r.name, r.code, r.country, r.timezone) for r in rows]
