"""Readiness checks for `/readyz` and the gauges `/metrics` computes when scraped.

Readiness: the database answering and its migrations at head are *critical* (either failing makes the
instance not ready: 503). Redis, provider circuit breakers, the worker heartbeat and each read replica
(down, or lagging beyond `REPLICA_MAX_LAG`: then skipped, with its lag) are reported but not
critical: without Redis the API serves from the database, a skipped replica's reads go to another or
the primary, and an open breaker or a missing worker delays syncs but not reads, so taking the
instance out of a load balancer would fix nothing.

Scrape-time gauges: `walletsync_db_pool_in_use{pool}`, `walletsync_jobs{status}` (queue depth from
`procrastinate_jobs`), `walletsync_sync_lag_seconds{chain}` (now minus the *oldest* `last_synced_at`
among that chain's synced wallets: the worst staleness a client can see), and
`walletsync_sync_never_synced_wallets{chain}`.
"""

from __future__ import annotations

import asyncio
from collections import Counter as Tally
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from prometheus_client import Counter, Gauge
from sqlalchemy import column, func, literal, select, table
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from walletsync.api.deps import AppState
from walletsync.config import Settings
from walletsync.db.models import CHAINS, sync_state, wallets
from walletsync.db.provider_endpoints import breaker_states_now
from walletsync.events.health import backlog as event_backlog
from walletsync.jobs.api import queue_depth
from walletsync.jobs.tables import procrastinate_workers

log = structlog.get_logger(__name__)

CHECK_TIMEOUT_S = 2.0

# Alembic's own table: named here, not modelled (it is not ours).
_alembic_version = table("alembic_version", column("version_num"))

DB_POOL_IN_USE = Gauge("walletsync_db_pool_in_use", "Database connections checked out of the pool.", ["pool"])
JOBS = Gauge("walletsync_jobs", "Jobs in the queue by status.", ["status"])
SYNC_LAG = Gauge(
    "walletsync_sync_lag_seconds",
    "Seconds since the least recently synced wallet of a chain was synced.",
    ["chain"],
)
NEVER_SYNCED = Gauge("walletsync_sync_never_synced_wallets", "Tracked wallets not synced yet.", ["chain"])
SCRAPE_ERRORS = Counter("walletsync_metrics_scrape_errors_total", "Scrapes whose database gauges failed.")


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    critical: bool
    detail: str


async def readiness(state: AppState) -> list[Check]:
    checks: list[Check] = []
    db_ok = False
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S), state.db.primary.connect() as conn:
            await conn.execute(select(literal(1)))
            db_ok = True
            checks.append(Check("database", True, True, "primary answers"))
            checks.append(await _migrations(conn, state.head_revision))
            checks.append(await _providers(conn, state.settings))
            checks.append(await _worker(conn, stale_after_s=state.settings.worker_stalled_after_s))
            checks.append(await _events(conn, max_age_s=state.settings.events_ready_max_age_s))
    except Exception as exc:  # noqa: BLE001 - any failure is a readiness reason, reported not raised
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:300] if str(exc) else type(exc).__name__
        if not db_ok:
            checks.append(Check("database", False, True, f"primary unreachable ({reason})"))
        else:
            checks.append(Check("database.checks", False, True, f"readiness queries failed ({reason})"))
    # One check per replica (not critical: reads fall back to the others, then the primary).
    for replica in await state.db.replicas.statuses():
        checks.append(
            Check(f"replica.{replica.label}", replica.usable, False, f"{replica.name}: {replica.detail}")
        )
    cache = await state.cache.health()
    checks.append(Check(f"cache.{cache.backend}", cache.ok, False, cache.detail))
    return checks


async def _migrations(conn: AsyncConnection, head: str) -> Check:
    try:
        current = (await conn.execute(select(_alembic_version.c.version_num))).scalars().all()
    except Exception as exc:  # noqa: BLE001 - a missing version table means "not migrated"
        await conn.rollback()
        return Check("migrations", False, True, f"no migration state ({type(exc).__name__})")
    if list(current) != [head]:
        return Check("migrations", False, True, f"at {', '.join(current) or 'base'}, code expects {head}")
    return Check("migrations", True, True, f"at head {head}")


async def _providers(conn: AsyncConnection, settings: Settings) -> Check:
    states = await breaker_states_now(conn, settings, now=datetime.now(UTC))
    if not states:
        return Check("providers", True, False, "no provider endpoints configured or recorded")
    # Endpoint URLs are never shown: some carry credentials in their path or query.
    summary = "; ".join(
        f"{p}: " + ", ".join(f"{n} {s}" for s, n in sorted(Tally(endpoints.values()).items()))
        for p, endpoints in sorted(states.items())
    )
    all_open = [p for p, endpoints in states.items() if set(endpoints.values()) == {"open"}]
    if all_open:
        return Check(
            "providers",
            False,
            False,
            f"every endpoint's breaker is open for {', '.join(all_open)} ({summary})",
        )
    return Check("providers", True, False, summary)


async def _worker(conn: AsyncConnection, *, stale_after_s: float) -> Check:
    last = (await conn.execute(select(func.max(procrastinate_workers.c.last_heartbeat)))).scalar()
    if last is None:
        return Check("worker", False, False, "no worker has sent a heartbeat (syncs will not run)")
    age = (datetime.now(UTC) - last).total_seconds()
    if age > stale_after_s:
        return Check("worker", False, False, f"last worker heartbeat {age:.0f} s ago (syncs are not running)")
    return Check("worker", True, False, f"heartbeat {age:.0f} s ago")


# --- scrape-time gauges -----------------------------------------------------------------------------
def _in_use(engine: AsyncEngine) -> int:
    checkedout = getattr(engine.pool, "checkedout", None)
    return int(checkedout()) if callable(checkedout) else 0


async def _events(conn: AsyncConnection, *, max_age_s: float) -> Check:
    ok, detail = (await event_backlog(conn, now=datetime.now(UTC))).check(max_age_s)
    return Check("events", ok, False, detail)


async def refresh_gauges(state: AppState) -> None:
    """Set the database-derived gauges; a database failure is counted, not raised."""
    DB_POOL_IN_USE.labels("primary").set(_in_use(state.db.primary))
    for index, engine in enumerate(state.db.replica_engines()):
        DB_POOL_IN_USE.labels(f"replica{index}").set(_in_use(engine))
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S), state.db.read() as conn:
            depth = await queue_depth(conn)
            await event_backlog(conn, now=datetime.now(UTC))  # sets the events gauges
            lag_rows = (
                await conn.execute(
                    select(
                        wallets.c.chain,
                        func.min(sync_state.c.last_synced_at),
                        func.count().filter(sync_state.c.last_synced_at.is_(None)),
                    )
                    .join(sync_state, sync_state.c.wallet_id == wallets.c.id)
                    .group_by(wallets.c.chain)
                )
            ).all()
    except Exception as exc:  # noqa: BLE001 - metrics must render even when the database does not answer
        SCRAPE_ERRORS.inc()
        log.warning("metrics.scrape.db_failed", error=f"{type(exc).__name__}: {exc}")
        return
    for status, count in depth.items():
        JOBS.labels(status).set(count)
    now = datetime.now(UTC)
    SYNC_LAG.clear()
    NEVER_SYNCED.clear()
    seen = set()
    for chain, oldest, never in lag_rows:
        seen.add(chain)
        NEVER_SYNCED.labels(chain).set(int(never))
        if oldest is not None:
            SYNC_LAG.labels(chain).set(max(0.0, (now - oldest).total_seconds()))
    for chain in CHAINS:
        if chain not in seen:
            NEVER_SYNCED.labels(chain).set(0)
