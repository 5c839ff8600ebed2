"""Bulk inserts as one `INSERT ... SELECT * FROM unnest(<one array per column>)` statement.

Whatever the number of rows, the statement text is the same, so it is compiled and prepared once
and sent in one round trip with one array parameter per column (encoded by asyncpg in C). Both
alternatives measured worse on a backfill (bench/backfill.py): a multi-row VALUES is compiled anew
for each row count (most of the time went to SQLAlchemy compiling), and executemany's
"insertmanyvalues" batches produce a new statement text per batch size, each prepared and cached
per connection, which grew memory steadily over a 100,000-transaction sync.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Column, Table, func, literal, select
from sqlalchemy.dialects.postgresql import ARRAY, Insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection


def unnest_insert(
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    same: Mapping[str, Any] | None = None,
) -> Insert:
    """`INSERT INTO table (columns, same...) SELECT ..., :same... FROM unnest(:col1, :col2, ...)`.

    `rows` are tuples in `columns` order; `same` holds columns whose value is one for every row
    (a wallet id, a chain): sent once rather than repeated in an array.
    """
    same = same or {}
    cols: list[Column[Any]] = [table.c[name] for name in columns]
    arrays = [literal([row[i] for row in rows], ARRAY(col.type)) for i, col in enumerate(cols)]
    source = func.unnest(*arrays).table_valued(*columns).render_derived(name="rows")
    constants = [literal(value, table.c[name].type).label(name) for name, value in same.items()]
    return pg_insert(table).from_select(
        [*columns, *same], select(*(source.c[name] for name in columns), *constants)
    )


async def insert_ignore(
    conn: AsyncConnection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    same: Mapping[str, Any] | None = None,
) -> None:
    """Insert `rows`, skipping any that conflict with an existing key."""
    if rows:
        await conn.execute(unnest_insert(table, columns, rows, same).on_conflict_do_nothing())


async def insert_ignore_returning(
    conn: AsyncConnection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    returning: str,
    same: Mapping[str, Any] | None = None,
) -> list[Any]:
    """Like `insert_ignore`; returns `returning` of the rows actually inserted."""
    if not rows:
        return []
    statement = (
        unnest_insert(table, columns, rows, same).on_conflict_do_nothing().returning(table.c[returning])
    )
    return list((await conn.execute(statement)).scalars())
