"""Webhook subscriptions and their delivery log: the queries behind `/v1/webhooks` and the CLI.

A secret is returned once, by `create_webhook` and `rotate_secret`; listings never include it. A
rotation keeps the previous secret signing beside the new one for 24 hours.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Integer,
    Text,
    any_,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from walletsync.db.models import outbox, wallets, webhook_deliveries, webhooks
from walletsync.errors import InvalidInputError, NotFoundError
from walletsync.events.delivery import ROTATION_OVERLAP, new_secret
from walletsync.events.publish import EVENTS_LOCK_CLASS, PUBLISH_LOCK
from walletsync.events.schemas import TOPICS

DELIVERY_STATUSES = ("pending", "delivered", "dead")
MAX_BATCH = 100  # events per batched request (the `webhooks` check constraint says the same)


class WebhookNotFoundError(NotFoundError):
    title = "Webhook not found"


@dataclass(frozen=True, slots=True)
class WebhookInfo:
    id: int
    url: str
    topics: list[str]
    wallet_ids: list[int] | None
    group: str | None
    description: str | None
    active: bool
    disabled_reason: str | None
    previous_secret_expires_at: datetime | None
    created_at: datetime
    updated_at: datetime
    batch_size: int = 1


@dataclass(frozen=True, slots=True)
class WebhookWithSecret:
    webhook: WebhookInfo
    secret: str


@dataclass(frozen=True, slots=True)
class DeliveryInfo:
    id: int
    webhook_id: int
    event_id: int
    wallet_id: int
    status: str
    attempts: int
    last_status: int | None
    last_error: str | None
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime


_COLUMNS = (
    webhooks.c.id,
    webhooks.c.url,
    webhooks.c.topics,
    webhooks.c.wallet_ids,
    webhooks.c.group_name,
    webhooks.c.description,
    webhooks.c.active,
    webhooks.c.disabled_reason,
    webhooks.c.previous_secret_expires_at,
    webhooks.c.created_at,
    webhooks.c.updated_at,
    webhooks.c.batch_size,
)


def _info(r: Any) -> WebhookInfo:
    """A row of `_COLUMNS` as `WebhookInfo`."""
    return WebhookInfo(
        id=r.id,
        url=r.url,
        topics=list(r.topics),
        wallet_ids=list(r.wallet_ids) if r.wallet_ids is not None else None,
        group=r.group_name,
        description=r.description,
        active=r.active,
        disabled_reason=r.disabled_reason,
        previous_secret_expires_at=r.previous_secret_expires_at,
        created_at=r.created_at,
        updated_at=r.updated_at,
        batch_size=r.batch_size,
    )


def normalize_topics(topics: Sequence[str] | None) -> list[str]:
    """The subscribed topics: every topic when none are given; unknown names are refused."""
    if not topics:
        return list(TOPICS)
    unknown = sorted(set(topics) - set(TOPICS))
    if unknown:
        raise InvalidInputError(f"unknown topic(s) {', '.join(unknown)}; known: {', '.join(TOPICS)}")
    return [t for t in TOPICS if t in set(topics)]


async def create_webhook(
    conn: AsyncConnection,
    *,
    url: str,
    topics: Sequence[str] | None = None,
    wallet_ids: Sequence[int] | None = None,
    group: str | None = None,
    description: str | None = None,
    replay: bool = False,
    batch_size: int = 1,
    now: datetime | None = None,
) -> WebhookWithSecret:
    """Register a webhook (the URL must already have passed `ssrf.check_target`).

    `replay`: also deliver the matching events already published (those still in the outbox), in
    order, before the new ones. `batch_size` > 1: one request carries up to that many events of one
    wallet (the batch envelope of docs/events.md).
    """
    if not 1 <= batch_size <= MAX_BATCH:
        raise InvalidInputError(f"batch size must be between 1 and {MAX_BATCH}, got {batch_size}")
    chosen = normalize_topics(topics)
    ids = sorted(set(wallet_ids)) if wallet_ids else None
    if ids:
        known = set(
            (
                await conn.execute(
                    select(wallets.c.id).where(wallets.c.id == any_(literal(ids, ARRAY(BigInteger))))
                )
            ).scalars()
        )
        missing = [i for i in ids if i not in known]
        if missing:
            raise InvalidInputError(f"no wallet with id {', '.join(map(str, missing))}")
    secret = new_secret()
    if replay:
        # Serialized with publishing: every event is either published before (replayed here) or
        # after this webhook exists (fanned out to it by the relay), never neither.
        await conn.execute(
            select(
                func.pg_advisory_xact_lock(
                    literal(EVENTS_LOCK_CLASS, Integer), literal(PUBLISH_LOCK, Integer)
                )
            )
        )
    row = (
        await conn.execute(
            insert(webhooks)
            .values(
                url=url,
                secret=secret,
                topics=chosen,
                wallet_ids=ids,
                group_name=group,
                description=description,
                batch_size=batch_size,
            )
            .returning(*_COLUMNS)
        )
    ).one()
    if replay:
        await _replay(conn, row.id, chosen, ids, group, now=now or datetime.now(UTC))
    return WebhookWithSecret(webhook=_info(row), secret=secret)


async def _replay(
    conn: AsyncConnection,
    webhook_id: int,
    topics: list[str],
    ids: list[int] | None,
    group: str | None,
    *,
    now: datetime,
) -> None:
    """Deliveries to a new webhook for the matching events already published (within retention)."""
    wallet_id = outbox.c.payload["wallet_id"].astext.cast(BigInteger)
    query = (
        select(literal(webhook_id, BigInteger), outbox.c.id, wallet_id, literal(now, DateTime(timezone=True)))
        .select_from(outbox.outerjoin(wallets, wallets.c.id == wallet_id))
        .where(outbox.c.seq.is_not(None), outbox.c.topic == any_(literal(topics, ARRAY(Text))))
    )
    either = []
    if ids:
        either.append(wallet_id == any_(literal(ids, ARRAY(BigInteger))))
    if group is not None:
        either.append(wallets.c.group_name == group)
    if either:
        query = query.where(or_(*either))
    await conn.execute(
        pg_insert(webhook_deliveries)
        .from_select(["webhook_id", "outbox_id", "wallet_id", "next_attempt_at"], query)
        .on_conflict_do_nothing()
    )


async def list_webhooks(conn: AsyncConnection) -> list[WebhookInfo]:
    rows = await conn.execute(select(*_COLUMNS).order_by(webhooks.c.id))
    return [_info(row) for row in rows]


async def get_webhook(conn: AsyncConnection, webhook_id: int) -> WebhookInfo:
    row = (await conn.execute(select(*_COLUMNS).where(webhooks.c.id == webhook_id))).one_or_none()
    if row is None:
        raise WebhookNotFoundError(f"no webhook with id {webhook_id}")
    return _info(row)


async def delete_webhook(conn: AsyncConnection, webhook_id: int) -> None:
    """Remove the webhook and its delivery log."""
    deleted = await conn.scalar(delete(webhooks).where(webhooks.c.id == webhook_id).returning(webhooks.c.id))
    if deleted is None:
        raise WebhookNotFoundError(f"no webhook with id {webhook_id}")


async def rotate_secret(conn: AsyncConnection, webhook_id: int, *, now: datetime) -> WebhookWithSecret:
    """A new secret; the current one keeps signing too for `ROTATION_OVERLAP` (24 h)."""
    secret = new_secret()
    row = (
        await conn.execute(
            update(webhooks)
            .where(webhooks.c.id == webhook_id)
            .values(
                previous_secret=webhooks.c.secret,
                previous_secret_expires_at=now + ROTATION_OVERLAP,
                secret=secret,
                updated_at=func.now(),
            )
            .returning(*_COLUMNS)
        )
    ).one_or_none()
    if row is None:
        raise WebhookNotFoundError(f"no webhook with id {webhook_id}")
    return WebhookWithSecret(webhook=_info(row), secret=secret)


async def set_active(
    conn: AsyncConnection, webhook_id: int, *, active: bool, reason: str | None = None
) -> WebhookInfo:
    """Switch a webhook on or off. Off ends its pending deliveries as `dead` (redeliver them after
    switching it back on), so nothing waits on a webhook nobody delivers to."""
    row = (
        await conn.execute(
            update(webhooks)
            .where(webhooks.c.id == webhook_id)
            .values(active=active, disabled_reason=None if active else reason, updated_at=func.now())
            .returning(*_COLUMNS)
        )
    ).one_or_none()
    if row is None:
        raise WebhookNotFoundError(f"no webhook with id {webhook_id}")
    if not active:
        await conn.execute(
            update(webhook_deliveries)
            .where(webhook_deliveries.c.webhook_id == webhook_id, webhook_deliveries.c.status == "pending")
            .values(status="dead", last_error=f"webhook disabled: {reason or 'switched off'}")
        )
    return _info(row)


async def list_deliveries(
    conn: AsyncConnection,
    webhook_id: int,
    *,
    status: str | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[DeliveryInfo]:
    """The webhook's deliveries, newest first (page with `before_id`)."""
    await get_webhook(conn, webhook_id)
    d = webhook_deliveries
    query = select(d).where(d.c.webhook_id == webhook_id).order_by(d.c.id.desc()).limit(limit)
    if status is not None:
        if status not in DELIVERY_STATUSES:
            raise InvalidInputError(
                f"unknown delivery status {status!r}; known: {', '.join(DELIVERY_STATUSES)}"
            )
        query = query.where(d.c.status == status)
    if before_id is not None:
        query = query.where(d.c.id < before_id)
    rows = await conn.execute(query)
    return [
        DeliveryInfo(
            id=r.id,
            webhook_id=r.webhook_id,
            event_id=r.outbox_id,
            wallet_id=r.wallet_id,
            status=r.status,
            attempts=r.attempts,
            last_status=r.last_status,
            last_error=r.last_error,
            next_attempt_at=r.next_attempt_at if r.status == "pending" else None,
            last_attempt_at=r.last_attempt_at,
            delivered_at=r.delivered_at,
            created_at=r.created_at,
        )
        for r in rows
    ]


async def redeliver(
    conn: AsyncConnection, webhook_id: int, *, now: datetime, delivery_ids: Sequence[int] | None = None
) -> int:
    """Queue dead deliveries again (all of the webhook's, or those given); return how many.

    Attempts restart from zero, so each gets the full retry schedule again. A batched delivery
    leaves its old batch: the relay forms batches anew (a new `webhook-id`), so one id never names
    two different sets of events even when only some of a dead batch are redelivered.
    """
    await get_webhook(conn, webhook_id)
    d = webhook_deliveries
    statement = (
        update(d)
        .where(d.c.webhook_id == webhook_id)
        .where(d.c.status == "dead")
        .values(status="pending", attempts=0, next_attempt_at=now, last_error=None, batch_head=None)
        .returning(d.c.id)
    )
    if delivery_ids is not None:
        statement = statement.where(d.c.id == any_(literal(list(delivery_ids), ARRAY(BigInteger))))
    return len((await conn.execute(statement)).all())


async def signing_keys(conn: AsyncConnection, webhook_id: int, *, now: datetime) -> list[str]:
    """The secrets that sign a delivery now: the current one, and the previous one during a rotation."""
    row = (
        await conn.execute(
            select(
                webhooks.c.secret, webhooks.c.previous_secret, webhooks.c.previous_secret_expires_at
            ).where(webhooks.c.id == webhook_id)
        )
    ).one_or_none()
    if row is None:
        raise WebhookNotFoundError(f"no webhook with id {webhook_id}")
    keys = [row.secret]
    if row.previous_secret and row.previous_secret_expires_at and row.previous_secret_expires_at > now:
        keys.append(row.previous_secret)
    return keys
