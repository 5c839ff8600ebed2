"""`/v1/webhooks`: register receivers of signed events, rotate secrets, read and replay deliveries (admin).

Also the OpenAPI document's `webhooks` section: one entry per event type, with its JSON Schema
(`event_docs`, included by the app factory).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path, Query, Response

from walletsync.api.deps import (
    AdminAccess,
    Limit,
    StateDep,
    cursor_query,
    decode_cursor,
    encode_cursor,
)
from walletsync.api.errors import error_responses
from walletsync.api.events_schemas import (
    DeliveryOut,
    Redelivered,
    RedeliverIn,
    SecretRotated,
    TestResult,
    WebhookCreated,
    WebhookIn,
    WebhookOut,
)
from walletsync.api.schemas import Page
from walletsync.events import delivery, registry
from walletsync.events.registry import WebhookInfo
from walletsync.events.schemas import BATCH_DESCRIPTION, DESCRIPTIONS, EVENT_MODELS, EventBatch
from walletsync.events.ssrf import check_target

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
WebhookId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The webhook's id.")]


def webhook_out(info: WebhookInfo) -> dict[str, object]:
    return {
        "id": info.id,
        "url": info.url,
        "topics": info.topics,
        "wallet_ids": info.wallet_ids,
        "group": info.group,
        "description": info.description,
        "active": info.active,
        "disabled_reason": info.disabled_reason,
        "previous_secret_valid_until": info.previous_secret_expires_at,
        "created_at": info.created_at,
        "updated_at": info.updated_at,
        "batch_size": info.batch_size,
    }


@router.post(
    "",
    status_code=201,
    response_model=WebhookCreated,
    responses=error_responses(401, 403, 413, 422, 429, 500),
    summary="Register a webhook (admin)",
)
async def create(body: WebhookIn, state: StateDep, _: AdminAccess, response: Response) -> WebhookCreated:
    """Events matching `topics` (and `wallet_ids` or `group`, when given) are POSTed to `url`, signed
    per the Standard Webhooks specification with the returned secret, which is shown only here.
    Private, loopback and link-local targets are refused unless `WALLETSYNC_WEBHOOK_ALLOW_PRIVATE=true`."""
    await check_target(body.url, allow_private=state.settings.webhook_allow_private)
    async with state.db.write() as conn:
        created = await registry.create_webhook(
            conn,
            url=body.url,
            topics=body.topics,
            wallet_ids=body.wallet_ids,
            group=body.group,
            description=body.description,
            replay=body.replay,
            batch_size=body.batch_size,
        )
    response.headers["Location"] = f"/v1/webhooks/{created.webhook.id}"
    return WebhookCreated(**webhook_out(created.webhook), secret=created.secret)


@router.get(
    "",
    response_model=list[WebhookOut],
    responses=error_responses(401, 403, 429, 500),
    summary="List webhooks",
)
async def list_all(state: StateDep, _: AdminAccess) -> list[WebhookOut]:
    async with state.db.primary.connect() as conn:
        return [WebhookOut(**webhook_out(w)) for w in await registry.list_webhooks(conn)]


@router.get(
    "/{webhook_id}",
    response_model=WebhookOut,
    responses=error_responses(401, 403, 404, 422, 429, 500),
    summary="A webhook",
)
async def show(webhook_id: WebhookId, state: StateDep, _: AdminAccess) -> WebhookOut:
    async with state.db.primary.connect() as conn:
        return WebhookOut(**webhook_out(await registry.get_webhook(conn, webhook_id)))


@router.delete(
    "/{webhook_id}",
    status_code=204,
    responses=error_responses(401, 403, 404, 422, 429, 500),
    summary="Remove a webhook and its delivery log",
)
async def remove(webhook_id: WebhookId, state: StateDep, _: AdminAccess) -> Response:
    async with state.db.write() as conn:
        await registry.delete_webhook(conn, webhook_id)
    return Response(status_code=204)


@router.post(
    "/{webhook_id}/rotate-secret",
    response_model=SecretRotated,
    responses=error_responses(401, 403, 404, 422, 429, 500),
    summary="Rotate the signing secret",
)
async def rotate(webhook_id: WebhookId, state: StateDep, _: AdminAccess) -> SecretRotated:
    """A new secret, shown once; deliveries carry signatures of both for 24 hours."""
    async with state.db.write() as conn:
        rotated = await registry.rotate_secret(conn, webhook_id, now=datetime.now(UTC))
    until = rotated.webhook.previous_secret_expires_at
    assert until is not None
    return SecretRotated(webhook_id=webhook_id, secret=rotated.secret, previous_secret_valid_until=until)


async def _switch(state: StateDep, webhook_id: int, *, active: bool) -> WebhookOut:
    async with state.db.write() as conn:
        info = await registry.set_active(conn, webhook_id, active=active, reason="disabled by an operator")
    return WebhookOut(**webhook_out(info))


@router.post(
    "/{webhook_id}/enable",
    response_model=WebhookOut,
    responses=error_responses(401, 403, 404, 422, 429, 500),
    summary="Switch a webhook back on",
)
async def enable(webhook_id: WebhookId, state: StateDep, _: AdminAccess) -> WebhookOut:
    """E.g. after the receiver answered 410; its dead deliveries stay dead until redelivered."""
    return await _switch(state, webhook_id, active=True)


@router.post(
    "/{webhook_id}/disable",
    response_model=WebhookOut,
    responses=error_responses(401, 403, 404, 422, 429, 500),
    summary="Switch a webhook off",
)
async def disable(webhook_id: WebhookId, state: StateDep, _: AdminAccess) -> WebhookOut:
    """No deliveries while off: pending ones end as dead (redeliver them after enabling it again)."""
    return await _switch(state, webhook_id, active=False)


@router.post(
    "/{webhook_id}/test",
    response_model=TestResult,
    responses=error_responses(401, 403, 404, 422, 429, 500),
    summary="Send a signed test event now",
)
async def test(webhook_id: WebhookId, state: StateDep, _: AdminAccess) -> TestResult:
    """POSTs a `webhook.test` event (signed like any other, not stored) and reports the answer."""
    async with state.db.primary.connect() as conn:
        info = await registry.get_webhook(conn, webhook_id)
        keys = await registry.signing_keys(conn, webhook_id, now=datetime.now(UTC))
    started = time.perf_counter()
    result = await delivery.send_test(info.url, keys, state.settings, webhook_id=webhook_id)
    return TestResult(
        delivered=result.ok,
        status=result.status,
        error=result.error,
        latency_ms=round((time.perf_counter() - started) * 1000, 1),
    )


@router.get(
    "/{webhook_id}/deliveries",
    response_model=Page[DeliveryOut],
    responses=error_responses(401, 403, 404, 422, 429, 500),
    summary="A webhook's deliveries, newest first",
)
async def deliveries(
    webhook_id: WebhookId,
    state: StateDep,
    _: AdminAccess,
    status: Annotated[
        Literal["pending", "delivered", "dead"] | None, Query(description="Only this status.")
    ] = None,
    limit: Limit = 50,
    cursor: Annotated[str | None, cursor_query("deliveries", int)] = None,
) -> Page[DeliveryOut]:
    before: int | None = None
    if cursor is not None:
        (before,) = decode_cursor(cursor, "deliveries", int)
    async with state.db.primary.connect() as conn:
        rows = await registry.list_deliveries(
            conn, webhook_id, status=status, before_id=before, limit=limit + 1
        )
    page, more = rows[:limit], len(rows) > limit
    items = [
        DeliveryOut(
            id=d.id,
            event_id=str(d.event_id),
            wallet_id=d.wallet_id,
            status=d.status,
            attempts=d.attempts,
            last_status=d.last_status,
            last_error=d.last_error,
            next_attempt_at=d.next_attempt_at,
            last_attempt_at=d.last_attempt_at,
            delivered_at=d.delivered_at,
            created_at=d.created_at,
        )
        for d in page
    ]
    return Page[DeliveryOut](
        items=items, next_cursor=encode_cursor("deliveries", [page[-1].id]) if more else None
    )


@router.post(
    "/{webhook_id}/redeliver",
    response_model=Redelivered,
    responses=error_responses(401, 403, 404, 413, 422, 429, 500),
    summary="Queue dead deliveries again",
)
async def redeliver(
    webhook_id: WebhookId, state: StateDep, _: AdminAccess, body: Annotated[RedeliverIn | None, Body()] = None
) -> Redelivered:
    """Each gets the full retry schedule again. Only events still in the outbox (`WALLETSYNC_EVENT_RETENTION`) can be."""
    async with state.db.write() as conn:
        queued = await registry.redeliver(
            conn, webhook_id, now=datetime.now(UTC), delivery_ids=body.delivery_ids if body else None
        )
    return Redelivered(queued=queued)


# --- the OpenAPI `webhooks` section: what receivers get ---------------------------------------------


def document_events(target: APIRouter) -> None:
    """Add one OpenAPI webhook per event type (its JSON Schema) to the app's `webhooks` router."""
    for topic, model in EVENT_MODELS.items():

        async def receive(event: Any) -> None:
            """Placeholder: documents the request a receiver gets."""

        # The real type, not a string: this module's annotations are postponed (PEP 563).
        receive.__annotations__ = {"event": model, "return": None}
        receive.__doc__ = (
            f"{DESCRIPTIONS[topic]}\n\nSigned per the Standard Webhooks specification: headers `webhook-id` "
            "(the event id), `webhook-timestamp`, `webhook-signature`. Answer 2xx to acknowledge, 410 to "
            "unsubscribe; anything else is retried (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h)."
        )
        target.add_api_route(
            topic, receive, methods=["POST"], name=topic, summary=topic, status_code=200, tags=["events"]
        )

    async def receive_batch(batch: Any) -> None:
        """Placeholder: documents the request a batched webhook's receiver gets."""

    receive_batch.__annotations__ = {"batch": EventBatch, "return": None}
    receive_batch.__doc__ = (
        f"{BATCH_DESCRIPTION}\n\nSigned like a single event; `webhook-id` is the batch's `id` "
        "(`batch_<n>`), the same on every retry of the batch. Answer 2xx to acknowledge every event "
        "in it; anything else retries the whole batch (410 unsubscribes)."
    )
    target.add_api_route(
        "batch",
        receive_batch,
        methods=["POST"],
        name="batch",
        summary="batch",
        status_code=200,
        tags=["events"],
    )
