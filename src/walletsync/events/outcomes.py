"""Writing what a sent batch of webhook deliveries came to (see `relay.py` for the protocol)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

import structlog
from sqlalchemy import BigInteger, Integer, and_, any_, func, literal, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

from walletsync.db.models import webhook_deliveries, webhooks
from walletsync.events import metrics
from walletsync.events.delivery import Attempt, next_attempt_delay

log = structlog.get_logger(__name__)

D = webhook_deliveries


class Claimed(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def outbox_id(self) -> int: ...
    @property
    def attempts(self) -> int: ...


async def record(
    conn: AsyncConnection,
    *,
    webhook_id: int,
    wallet_id: int,
    first: Claimed,
    delivered: list[tuple[int, int]],
    failed: tuple[Sequence[Claimed], Attempt] | None,
    now: datetime,
) -> None:
    """Write what one queue's sending came to: delivered rows (one statement for all), the failed
    request's rows (one event, or a whole batch: retried together, dead together, or the webhook
    disabled on 410), and when the rest of the (webhook, wallet) queue may go on."""
    if delivered:
        data = (
            func.unnest(
                literal([d[0] for d in delivered], ARRAY(BigInteger)),
                literal([d[1] for d in delivered], ARRAY(Integer)),
            )
            .table_valued("id", "code")
            .render_derived(name="done")
        )
        await conn.execute(
            update(D)
            .where(D.c.id == data.c.id)
            .values(
                status="delivered",
                attempts=D.c.attempts + 1,
                last_status=data.c.code,
                last_error=None,
                last_attempt_at=now,
                delivered_at=now,
            )
        )
        metrics.DELIVERIES.labels("delivered").inc(len(delivered))
    resume_at = now
    if failed is not None:
        rows, result = failed
        head = rows[0]
        if result.gone:
            await disable(conn, webhook_id, now)
            metrics.DELIVERIES.labels("gone").inc(len(rows))
            return
        attempts = head.attempts + 1
        wait = next_attempt_delay(attempts)
        await conn.execute(
            update(D)
            .where(D.c.id == any_(literal([r.id for r in rows], ARRAY(BigInteger))))
            .values(
                status="pending" if wait is not None else "dead",
                attempts=attempts,
                last_status=result.status,
                last_error=result.error,
                last_attempt_at=now,
                next_attempt_at=now + wait if wait is not None else now,
            )
        )
        metrics.DELIVERIES.labels("retry" if wait is not None else "dead").inc(len(rows))
        if wait is not None:
            resume_at = now + wait
        log.info(
            "events.webhook.failed",
            webhook_id=webhook_id,
            delivery_id=head.id,
            events=len(rows),
            attempt=attempts,
            status=result.status,
            error=result.error,
            retry_in_s=wait.total_seconds() if wait is not None else None,
        )
    # The rest of the queue (unsent rows of this batch, and rows deferred behind its lease) waits
    # for a failed head's next attempt, or goes on now. Going on touches only rows pushed into the
    # future: rewriting every follower on each success made a long queue's bookkeeping quadratic.
    queue = and_(D.c.webhook_id == webhook_id, D.c.wallet_id == wallet_id, D.c.status == "pending")
    after = failed[0][0].outbox_id if failed is not None else first.outbox_id
    behind = D.c.next_attempt_at != resume_at if failed is not None else D.c.next_attempt_at > resume_at
    await conn.execute(
        update(D).where(queue, D.c.outbox_id > after, behind).values(next_attempt_at=resume_at)
    )


async def disable(conn: AsyncConnection, webhook_id: int, now: datetime) -> None:
    """The receiver answered 410: switch the webhook off and end its pending deliveries."""
    reason = f"the receiver answered 410 Gone at {now.isoformat(timespec='seconds')}"
    await conn.execute(
        update(webhooks)
        .where(webhooks.c.id == webhook_id)
        .values(active=False, disabled_reason=reason, updated_at=func.now())
    )
    await conn.execute(
        update(D)
        .where(and_(D.c.webhook_id == webhook_id, D.c.status == "pending"))
        .values(
            status="dead",
            attempts=D.c.attempts + 1,
            last_status=410,
            last_error=f"webhook disabled: {reason}",
            last_attempt_at=now,
        )
    )
    log.warning("events.webhook.disabled", webhook_id=webhook_id, reason=reason)
