"""The operations page's provider endpoints: breaker state (`provider_endpoints`) beside the counts of
every process over the last 5 minutes and hour (`provider_stats`).

Both tables are keyed by the endpoint's display name (`host#hash6`), never its URL. An endpoint whose
breaker never changed has no `provider_endpoints` row (rows are written on changes) but has counts:
it is listed as closed, the state every breaker starts in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from walletsync.db.engine import Database
from walletsync.db.provider_endpoints import load_endpoint_states
from walletsync.db.provider_stats import Window, endpoint_windows
from walletsync.providers.endpoints import EndpointState

WINDOWS = (("5 min", timedelta(minutes=5)), ("1 h", timedelta(hours=1)))


@dataclass(frozen=True, slots=True)
class EndpointRow:
    state: EndpointState
    windows: list[tuple[str, Window]]


async def provider_rows(db: Database, *, now: datetime) -> list[EndpointRow]:
    """Every endpoint with a stored breaker state or recent counts, by provider and name."""
    states = {(s.provider, s.url): s for s in await load_endpoint_states(db)}
    async with db.primary.connect() as conn:
        counts = await endpoint_windows(conn, now=now, windows=[span for _, span in WINDOWS])
    rows = []
    for key in sorted(set(states) | set(counts)):
        state = states.get(key) or EndpointState(provider=key[0], url=key[1])
        windows = counts.get(key) or [Window() for _ in WINDOWS]
        rows.append(EndpointRow(state, [(label, w) for (label, _), w in zip(WINDOWS, windows, strict=True)]))
    return rows
