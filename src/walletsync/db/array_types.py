"""Every array type we bind, learnt by a connection in one statement when the process opens its pool.

asyncpg has no built-in codec for arrays: the first statement on a connection that binds or reads
an array of a type that connection has not seen runs asyncpg's type introspection first (a
recursive catalog query, wrapped in two more round trips that switch JIT off and back), once per
set of new types. A sync's page writer binds arrays of five types in three statements (the links,
the deltas, the events), so a fresh connection paid three introspections, 9 ms and 5 ms of them, on
the page's critical path (bench/sync_latency.py's PostgreSQL log). `Database.warm` runs
`learn_array_types` on each connection it opens at start-up: one statement naming every array type
the bulk writes and filters use, so they are introspected together, before anything waits.

Not in SQLAlchemy's `connect` event, which would cover every new connection: a task cancelled while
that event's statement ran (the events hub, closed while it opened a connection) left the pool
waiting, and `hub.close()` took from 12 s to forever (tests/integration/events/test_streams.py). Run as a
plain statement in its own transaction, it is cancelled like any other, and behind PgBouncer the
introspection's JIT switch and its switch back stay on one server connection.

Written here rather than found in a library: asyncpg keeps its type cache per connection and offers
no way to seed it but running a statement.
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
    Select,
    SmallInteger,
    String,
    Text,
    bindparam,
    cast,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.ext.asyncio import AsyncConnection
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
def _every_array_type() -> Select[Any]:
    """`SELECT CAST(:a0 AS TEXT[]), ...`: one array parameter and result of each type."""
    return select(
        *(
            cast(bindparam(f"a{i}", type_=ARRAY(element)), ARRAY(element)).label(f"a{i}")
            for i, element in enumerate(ARRAY_ELEMENT_TYPES)
        )
    )


async def learn_array_types(conn: AsyncConnection) -> None:
    """Have `conn` introspect every array type we bind, in one statement (empty arrays, no rows read)."""
    await conn.execute(_every_array_type(), {f"a{i}": [] for i in range(len(ARRAY_ELEMENT_TYPES))})
