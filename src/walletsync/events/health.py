"""How far behind event delivery is: for `/readyz` (a non-critical check) and the `/metrics` gauges.

Two indexed single-row reads: the oldest unpublished outbox row, and the oldest event with a
webhook delivery still pending (backing off included: a receiver that is down shows here). Dead
deliveries are final and counted apart (`walletsync_webhook_dead_deliveries`), for an operator.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from walletsync.db.models import outbox, webhook_deliveries
from walletsync.events import metrics

D = webhook_deliveries


@dataclass(frozen=True, slots=True)
class Backlog:
    oldest_age_s: float  # 0 when nothing waits
    dead: int

    def check(self, max_age_s: float) -> tuple[bool, str]:
        """(ok, detail) for readiness."""
        dead = (
            f"; {self.dead} dead deliveries (walletsync webhooks deliveries --status dead)"
            if self.dead
            else ""
        )
        if self.oldest_age_s > max_age_s:
            return False, (
                f"oldest undelivered event is {self.oldest_age_s:.0f} s old "
                f"(over WALLETSYNC_EVENTS_READY_MAX_AGE={max_age_s:g}; is a relay running, is a receiver down?){dead}"
            )
        return True, f"oldest undelivered event {self.oldest_age_s:.0f} s old{dead}"


async def backlog(conn: AsyncConnection, *, now: datetime) -> Backlog:
    unpublished = await conn.scalar(
        select(outbox.c.created_at).where(outbox.c.published_at.is_(None)).order_by(outbox.c.id).limit(1)
    )
    first_pending = select(D.c.outbox_id).where(D.c.status == "pending").order_by(D.c.outbox_id).limit(1)
    pending = await conn.scalar(
        select(outbox.c.created_at).where(outbox.c.id == first_pending.scalar_subquery())
    )
    dead = int(await conn.scalar(select(func.count()).select_from(D).where(D.c.status == "dead")) or 0)
    oldest = min((t for t in (unpublished, pending) if t is not None), default=None)
    age = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
    metrics.OLDEST_UNDELIVERED.set(age)
    metrics.DEAD_DELIVERIES.set(dead)
    return Backlog(oldest_age_s=age, dead=dead)
