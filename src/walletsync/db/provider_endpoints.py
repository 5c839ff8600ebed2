"""Queries of the `provider_endpoints` table: endpoint health, read at start and written on each change.

`providers/` knows nothing of the database: a `ResilientClient` takes `initial_states` (from
`load_endpoint_states`) and an `on_change` hook (`endpoint_state_saver`). The row's `weight` belongs to
the operator: a new row takes the client's weight, an existing row keeps its own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from walletsync.config import Settings
from walletsync.db.engine import Database
from walletsync.db.models import provider_endpoints
from walletsync.providers.breaker import BreakerState
from walletsync.providers.endpoints import EndpointState, display_name


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


PROVIDERS = ("solana", "blockfrost", "twelvedata")


def _effective(state: str, since: datetime | None, *, cooldown_s: float, now: datetime) -> str:
    """A stored `open` past its cool-down is a breaker whose next call is the probe: `half_open`."""
    if state == "open" and since is not None and (now - since).total_seconds() >= cooldown_s:
        return "half_open"
    return state


async def breaker_states_now(
    conn: AsyncConnection, settings: Settings, *, now: datetime
) -> dict[str, dict[str, str]]:
    """Each endpoint's breaker state as of `now`: {provider: {endpoint display name: state}}.

    The endpoints this process is configured with count, each `closed` until a row says otherwise (a
    healthy endpoint may never have been written); rows of other endpoints are left out. A provider
    this process has no URLs for (an API-only process) is reported from its rows. A row still saying
    `open` after its cool-down is `half_open`: no process has probed it since, and the next call will.
    """
    t = provider_endpoints
    rows = (
        await conn.execute(select(t.c.provider, t.c.url, t.c.breaker_state, t.c.opened_at, t.c.updated_at))
    ).all()
    stored: dict[str, dict[str, tuple[str, datetime | None]]] = {}
    for row in rows:
        stored.setdefault(row.provider, {})[row.url] = (row.breaker_state, row.opened_at or row.updated_at)
    result: dict[str, dict[str, str]] = {}
    for provider in sorted(set(PROVIDERS) | set(stored)):
        urls: list[str] = []
        if provider in PROVIDERS:
            urls = [display_name(u) for u in settings.provider_config(provider).urls]  # type: ignore[arg-type]
        known = stored.get(provider, {})
        if not urls:
            urls = sorted(known)
        if not urls:
            continue
        result[provider] = {
            url: _effective(
                *known.get(url, ("closed", None)), cooldown_s=settings.breaker_cooldown_s, now=now
            )
            for url in urls
        }
    return result


async def expire_stale_breakers(db: Database, *, now: datetime, older_than: timedelta) -> int:
    """Close breaker rows no process has written for `older_than` (their endpoints are unused or gone).

    A live client rewrites its row on every change, so a row this old describes no breaker that
    exists now; left `open`, it would keep `/readyz` degraded for good. Weights are kept.
    """
    t = provider_endpoints
    async with db.write() as conn:
        result = await conn.execute(
            update(t)
            .where(t.c.breaker_state != "closed", t.c.updated_at < now - older_than)
            .values(breaker_state="closed", opened_at=None, consecutive_failures=0, updated_at=now)
        )
    return int(result.rowcount)
