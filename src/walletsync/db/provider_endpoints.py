"""Queries of the `provider_endpoints` table: endpoint health, read at start and written on each change.

`providers/` knows nothing of the database: a `ResilientClient` takes `initial_states` (from
`load_endpoint_states`) and an `on_change` hook (`endpoint_state_saver`). The row's `weight` belongs to
the operator: a new row takes the client's weight, an existing row keeps its own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from walletsync.db.engine import Database
from walletsync.db.models import provider_endpoints
from walletsync.providers.breaker import BreakerState
from walletsync.providers.endpoints import EndpointState


async def load_endpoint_states(db: Database, provider: str | None = None) -> list[EndpointState]:
    """Persisted endpoint states, of one provider or of all."""
    t = provider_endpoints
    query = select(t).order_by(t.c.provider, t.c.url)
    if provider is not None:
        query = query.where(t.c.provider == provider)
    async with db.primary.connect() as conn:
        rows = (await conn.execute(query)).mappings().all()
    return [
        EndpointState(
            provider=row["provider"],
            url=row["url"],
            weight=row["weight"],
            breaker_state=BreakerState(row["breaker_state"]),
            consecutive_failures=row["consecutive_failures"],
            opened_at=row["opened_at"],
            last_error=row["last_error"],
        )
        for row in rows
    ]


async def save_endpoint_state(db: Database, state: EndpointState) -> None:
    """Insert or update one endpoint's state (the weight of an existing row is left alone)."""
    t = provider_endpoints
    values = {
        "breaker_state": state.breaker_state.value,
        "consecutive_failures": state.consecutive_failures,
        "opened_at": state.opened_at,
        "last_error": state.last_error,
        "updated_at": datetime.now(UTC),
    }
    statement = insert(t).values(provider=state.provider, url=state.url, weight=state.weight, **values)
    statement = statement.on_conflict_do_update(index_elements=[t.c.provider, t.c.url], set_=values)
    async with db.write() as conn:
        await conn.execute(statement)


def endpoint_state_saver(db: Database) -> Callable[[EndpointState], Awaitable[None]]:
    """The `on_change` hook of a `ResilientClient` that writes each change through to `db`."""

    async def save(state: EndpointState) -> None:
        await save_endpoint_state(db, state)

    return save
