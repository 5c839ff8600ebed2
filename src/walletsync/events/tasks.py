"""The events' Procrastinate tasks: a periodic relay pass and the daily-ish retention prune.

`serve` and `worker` also run the relay continuously (`Relay.run`); the periodic pass makes delivery
go on in a deployment that runs workers with `WALLETSYNC_EVENTS_RELAY=false`, and catches up after
any gap. Registered on the jobs app when `jobs/app.py` opens it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from procrastinate import JobContext

from walletsync.events.relay import Relay
from walletsync.events.retention import prune_events
from walletsync.jobs.app import MAINTENANCE_QUEUE, app
from walletsync.jobs.tasks import RETRY_POLICY, services_of

RELAY_PASS_ROUNDS = 200


@app.periodic(cron="* * * * *", periodic_id="relay_events")
@app.task(
    name="relay_events",
    queue=MAINTENANCE_QUEUE,
    queueing_lock="relay_events",
    pass_context=True,
    retry=RETRY_POLICY,
)
async def relay_events_task(context: JobContext, timestamp: int | None = None) -> dict[str, Any]:
    """Publish and deliver what is due now (bounded, so one pass never runs for long)."""
    services = services_of(context)
    relay = Relay(services.db, services.settings)
    try:
        await relay.drain(max_rounds=RELAY_PASS_ROUNDS)
    finally:
        await relay.aclose()
    return {"ok": True}


@app.periodic(cron="23 * * * *", periodic_id="prune_events")
@app.task(
    name="prune_events",
    queue=MAINTENANCE_QUEUE,
    queueing_lock="prune_events",
    pass_context=True,
    retry=RETRY_POLICY,
)
async def prune_events_task(context: JobContext, timestamp: int | None = None) -> dict[str, Any]:
    """Remove settled events and delivery logs older than `WALLETSYNC_EVENT_RETENTION`."""
    services = services_of(context)
    report = await prune_events(
        services.db, now=datetime.now(UTC), retention_s=services.settings.event_retention_s
    )
    return {"events": report.events, "deliveries": report.deliveries, "ended": report.ended}
