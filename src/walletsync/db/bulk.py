"""Bulk inserts as one `INSERT ... SELECT * FROM unnest(<one array per column>)` statement.

Whatever the number of rows, the statement text is the same, so it is compiled and prepared once
and sent in one round trip with one array parameter per column (encoded by asyncpg in C). Both
alternatives measured worse on a backfill (bench/backfill.py): a multi-row VALUES is compiled anew
for each row count (most of the time went to SQLAlchemy compiling), and executemany's
"insertmanyvalues" batches produce a new statement text per batch size, each prepared and cached
per connection, which grew memory steadily over a 100,000-transaction sync.

The statements are built once per (table, columns, constant columns) and the rows travel as
execute-time parameters (`unnest_params`), never as literals inside the statement: a SQLAlchemy
statement object sits in reference cycles (memoized compiler state), so a statement holding a
batch's values kept every row (a thousand decoded transactions with their raw bodies) alive until
the garbage collector's rare full pass. bench/backfill.py: peak RSS grew from 155 to 335 MB over
100,000 transactions that way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Column, Executable, Table, Text, bindparam, cast, func, select
from sqlalchemy.dialects.postgresql import ARRAY, Insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection


def _array_param(name: str) -> str:
    return f"rows_{name}"


def _same_param(name: str) -> str:
    return f"same_{name}"


@lru_cache(maxsize=128)
def unnest_insert(
    table: Table, columns: tuple[str, ...], same: tuple[str, ...] = (), from_text: tuple[str, ...] = ()
) -> Insert:
    """`INSERT INTO table (columns, same...) SELECT ..., :same... FROM unnest(:rows_col1, ...)`.

    Values come at execute time from `unnest_params(columns, rows, same)`: one array per column of
    `columns`, and one value for each column of `same` (a wallet id, a chain: sent once rather
    than repeated in an array). Columns named in `from_text` travel as text and are cast by the
    server (JSON already encoded by the caller, not encoded again per element). Built once per
    argument tuple (cached): callers add `ON CONFLICT`.
    """
    cols: list[Column[Any]] = [table.c[name] for name in columns]
    arrays = [
        bindparam(_array_param(col.name), type_=ARRAY(Text if col.name in from_text else col.type))
        for col in cols
    ]
    source = func.unnest(*arrays).table_valued(*columns).render_derived(name="rows")
    constants = [bindparam(_same_param(name), type_=table.c[name].type).label(name) for name in same]
    selected = [
        cast(source.c[col.name], col.type) if col.name in from_text else source.c[col.name] for col in cols
    ]
    return pg_insert(table).from_select([*columns, *same], select(*selected, *constants))


def unnest_params(
    columns: Sequence[str], rows: Sequence[Sequence[Any]], same: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The parameters of `unnest_insert(table, tuple(columns), tuple(same))` for `rows` (tuples in
    `columns` order)."""
    params: dict[str, Any] = {_array_param(name): [row[i] for row in rows] for i, name in enumerate(columns)}
    for name, value in (same or {}).items():
        params[_same_param(name)] = value
    return params


@lru_cache(maxsize=128)
def _insert_ignore(
    table: Table, columns: tuple[str, ...], same: tuple[str, ...], returning: str | None
) -> Executable:
    statement = unnest_insert(table, columns, same).on_conflict_do_nothing()
    return statement.returning(table.c[returning]) if returning is not None else statement


async def insert_ignore(
    conn: AsyncConnection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    same: Mapping[str, Any] | None = None,
) -> None:
    """Insert `rows`, skipping any that conflict with an existing key."""
    if rows:
        same = same or {}
        statement = _insert_ignore(table, tuple(columns), tuple(same), None)
        await conn.execute(statement, unnest_params(columns, rows, same))


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
    same = same or {}
    statement = _insert_ignore(table, tuple(columns), tuple(same), returning)
    return list((await conn.execute(statement, unnest_params(columns, rows, same))).scalars())
