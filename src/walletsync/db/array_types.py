"""Every array type we send, introspected once when a connection opens, in one round trip.

asyncpg has no built-in codec for arrays: the first statement on a connection that binds or reads
an array of a type that connection has not seen runs asyncpg's type introspection first (a
recursive catalog query, wrapped in two more round trips that switch JIT off and back), once per
set of new types. A sync's page writer binds arrays of five types in three statements (the links,
the deltas, the events), so a pool's new connection paid three introspections, 9 ms and 5 ms of
them, on the page's critical path (bench/sync_latency.py's PostgreSQL log). Preparing one statement
that names every array type the bulk writes and filters use, as the connection opens, pays once
and before anything waits on that connection.

Written here rather than found in a library: asyncpg keeps its type cache per connection and
offers no way to seed it but running a statement; SQLAlchemy's `connect` event with
`run_async` is the documented hook for per-connection asyncpg set-up.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Double,
    Integer,
    Numeric,
    SmallInteger,
    String,
    Text,
    bindparam,
    cast,
    event,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.types import TypeEngine

# The element types of every array parameter or result in `db/bulk.py`'s inserts and the `= ANY(...)`
# filters; one more costs nothing at run time (it is introspected with the rest).
ARRAY_ELEMENT_TYPES: tuple[TypeEngine[Any], ...] = (
    Text(),
    String(),
    BigInteger(),
    Integer(),
    SmallInteger(),
    Numeric(),
    Double(),
    Boolean(),
    DateTime(timezone=True),
    JSON(),
    JSONB(),
)


@cache
def _introspecting_statement(dialect: Dialect) -> str:
    """`SELECT CAST($1::TEXT[] AS TEXT[]), ...`: preparing it introspects every array type at once."""
    columns = [
        cast(bindparam(f"a{i}", type_=ARRAY(element)), ARRAY(element)).label(f"a{i}")
        for i, element in enumerate(ARRAY_ELEMENT_TYPES)
    ]
    return str(select(*columns).compile(dialect=dialect))


def introspect_on_connect(engine: AsyncEngine) -> None:
    """Have each new connection of `engine` learn every array type before its first use."""
    statement = _introspecting_statement(engine.dialect)

    async def introspect(connection: Any) -> None:
        # Prepared, not executed: the parameter and result types are what asyncpg introspects. In a
        # transaction, so that behind PgBouncer (transaction mode) the introspection's JIT switch
        # and its switch back reach the same server connection, not two different ones.
        async with connection.transaction():
            await connection.prepare(statement)

    @event.listens_for(engine.sync_engine, "connect")
    def _introspect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.run_async(introspect)
