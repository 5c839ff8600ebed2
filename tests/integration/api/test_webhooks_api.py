"""`/v1/webhooks`: registration (admin), the secret shown once, SSRF refusals, rotation, test, deliveries."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert
from standardwebhooks import Webhook

from tests.integration.events.conftest import Receiver, add_tx_events, add_wallet
from walletsync.config import Settings
from walletsync.db.models import outbox
from walletsync.events.relay import Relay

from .conftest import Api, Keys


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.start()
    yield r
    await r.stop()


@pytest.fixture
async def open_api(make_api: Callable[[Settings], Any], api_settings: Settings) -> Api:
    started: Api = await make_api(api_settings.model_copy(update={"webhook_allow_private": True}))
    return started


async def test_register_list_rotate_test_and_remove(open_api: Api, keys: Keys, receiver: Receiver) -> None:
    api = open_api
    created = await api.client.post(
        "/v1/webhooks",
        json={"url": receiver.url, "topics": ["tx.indexed"], "description": "desk"},
        headers=keys.admin,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    hook_id = body["id"]
    assert created.headers["Location"] == f"/v1/webhooks/{hook_id}"
    assert body["secret"].startswith("whsec_")
    assert (body["topics"], body["active"], body["description"]) == (["tx.indexed"], True, "desk")
    assert body["batch_size"] == 1  # one event per request unless asked
    listed = (await api.client.get("/v1/webhooks", headers=keys.admin)).json()
    assert [h["id"] for h in listed] == [hook_id]
    assert "secret" not in listed[0]  # shown once, at creation

    tested = (await api.client.post(f"/v1/webhooks/{hook_id}/test", headers=keys.admin)).json()
    assert tested["delivered"] is True
    assert tested["status"] == 200
    (call,) = receiver.calls
    assert call.verify(body["secret"])["type"] == "webhook.test"

    rotated = (await api.client.post(f"/v1/webhooks/{hook_id}/rotate-secret", headers=keys.admin)).json()
    assert rotated["secret"] != body["secret"]
    await api.client.post(f"/v1/webhooks/{hook_id}/test", headers=keys.admin)
    receiver.calls[-1].verify(body["secret"])  # both sign during the overlap
    receiver.calls[-1].verify(rotated["secret"])

    gone = await api.client.delete(f"/v1/webhooks/{hook_id}", headers=keys.admin)
    assert gone.status_code == 204
    missing = await api.client.get(f"/v1/webhooks/{hook_id}", headers=keys.admin)
    assert missing.status_code == 404
    assert missing.json()["detail"] == f"no webhook with id {hook_id}"


async def test_admin_scope_and_validation(open_api: Api, keys: Keys) -> None:
    api = open_api
    denied = await api.client.post("/v1/webhooks", json={"url": "https://example.com/h"}, headers=keys.write)
    assert denied.status_code == 403
    assert "admin" in denied.json()["detail"]
    bad_topic = await api.client.post(
        "/v1/webhooks", json={"url": "https://example.com/h", "topics": ["tx.nope"]}, headers=keys.admin
    )
    assert bad_topic.status_code == 422
    scheme = await api.client.post("/v1/webhooks", json={"url": "ftp://example.com/h"}, headers=keys.admin)
    assert scheme.status_code == 422
    assert "http:// or https://" in scheme.json()["detail"]
    unknown_wallet = await api.client.post(
        "/v1/webhooks", json={"url": "http://127.0.0.1:9/h", "wallet_ids": [424242]}, headers=keys.admin
    )
    assert unknown_wallet.status_code == 422
    assert unknown_wallet.json()["detail"] == "no wallet with id 424242"
    for size in (0, 101, 49.5, "49"):  # out of range, fractional, a string
        too = await api.client.post(
            "/v1/webhooks", json={"url": "http://127.0.0.1:9/h", "batch_size": size}, headers=keys.admin
        )
        assert too.status_code == 422
    batched = await api.client.post(
        "/v1/webhooks", json={"url": "http://127.0.0.1:9/h", "batch_size": 100}, headers=keys.admin
    )
    assert batched.status_code == 201, batched.text
    shown = (await api.client.get(f"/v1/webhooks/{batched.json()['id']}", headers=keys.admin)).json()
    assert shown["batch_size"] == 100
    # 49.0 is an integer to JSON Schema (the fuzzer sent it and got a 422): accepted as 49.
    whole = await api.client.post(
        "/v1/webhooks", json={"url": "http://127.0.0.1:9/h", "batch_size": 49.0}, headers=keys.admin
    )
    assert whole.status_code == 201, whole.text
    assert whole.json()["batch_size"] == 49


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[::ffff:192.168.0.1]/hook",
    ],
)
async def test_private_targets_are_refused(api: Api, keys: Keys, url: str) -> None:
    refused = await api.client.post("/v1/webhooks", json={"url": url}, headers=keys.admin)
    assert refused.status_code == 422
    problem = refused.json()
    assert problem["title"] == "Webhook target refused"
    assert "WALLETSYNC_WEBHOOK_ALLOW_PRIVATE=true" in problem["detail"]


async def test_deliveries_listing_and_redelivery(open_api: Api, keys: Keys, receiver: Receiver) -> None:
    api = open_api
    hook = (await api.client.post("/v1/webhooks", json={"url": receiver.url}, headers=keys.admin)).json()
    async with api.db.write() as conn:
        wallet = await add_wallet(conn, "A" * 44)
        await add_tx_events(conn, wallet, "A" * 44, ["a1", "a2"])
    receiver.status = lambda: 410
    relay = Relay(api.db, api.settings)
    try:
        await relay.drain()
        page = (
            await api.client.get(f"/v1/webhooks/{hook['id']}/deliveries?limit=1", headers=keys.admin)
        ).json()
        assert len(page["items"]) == 1
        assert page["next_cursor"]
        dead = (
            await api.client.get(f"/v1/webhooks/{hook['id']}/deliveries?status=dead", headers=keys.admin)
        ).json()
        assert [(d["status"], d["last_status"]) for d in dead["items"]] == [("dead", 410), ("dead", 410)]
        shown = (await api.client.get(f"/v1/webhooks/{hook['id']}", headers=keys.admin)).json()
        assert shown["active"] is False
        assert "410 Gone" in shown["disabled_reason"]
        receiver.status = lambda: 200
        enabled = (await api.client.post(f"/v1/webhooks/{hook['id']}/enable", headers=keys.admin)).json()
        assert enabled["active"] is True
        queued = (await api.client.post(f"/v1/webhooks/{hook['id']}/redeliver", headers=keys.admin)).json()
        assert queued == {"queued": 2}
        await relay.drain()
    finally:
        await relay.aclose()
    ids = [Webhook(hook["secret"]).verify(c.body, c.headers)["data"]["tx_id"] for c in receiver.accepted]
    assert ids == ["a1", "a2"]


async def test_openapi_publishes_one_schema_per_event_type(api: Api) -> None:
    document = (await api.client.get("/openapi.json")).json()
    assert set(document["webhooks"]) == {
        "tx.indexed",
        "tx.rolled_back",
        "balance.changed",
        "sync.completed",
        "sync.failed",
        "batch",
    }
    balance = document["webhooks"]["balance.changed"]["post"]["requestBody"]["content"]["application/json"]
    assert balance["schema"]["$ref"].endswith("/BalanceChangedEvent")
    schema = document["components"]["schemas"]["BalanceChangedEvent"]
    assert {"id", "type", "version", "timestamp", "wallet", "data"} <= set(schema["properties"])
    batch = document["webhooks"]["batch"]["post"]["requestBody"]["content"]["application/json"]
    assert batch["schema"]["$ref"].endswith("/EventBatch")
    envelope = document["components"]["schemas"]["EventBatch"]
    assert {"id", "type", "version", "count", "events"} <= set(envelope["properties"])
    one_of = envelope["properties"]["events"]["items"]["oneOf"]
    assert {ref["$ref"].rsplit("/", 1)[1] for ref in one_of} == {
        "TxIndexedEvent",
        "TxRolledBackEvent",
        "BalanceChangedEvent",
        "SyncCompletedEvent",
        "SyncFailedEvent",
    }


async def test_readyz_reports_old_undelivered_events(open_api: Api, keys: Keys, receiver: Receiver) -> None:
    """An event waiting longer than WALLETSYNC_EVENTS_READY_MAX_AGE degrades readiness (not critical)."""
    api = open_api
    async with api.db.write() as conn:
        wallet = await add_wallet(conn, "A" * 44)
        await conn.execute(
            insert(outbox).values(
                topic="sync.failed",
                payload={"wallet_id": wallet, "chain": "solana", "address": "A" * 44, "error": "x"},
                created_at=datetime.now(UTC) - timedelta(hours=1),
            )
        )
    ready = (await api.client.get("/readyz", headers=keys.admin)).json()  # details need an admin key
    (events,) = [c for c in ready["checks"] if c["name"] == "events"]
    assert ready["status"] == "degraded"
    assert events["ok"] is False
    assert events["critical"] is False
    assert events["detail"].startswith("oldest undelivered event is 3600 s old")
    metrics = (await api.client.get("/metrics", headers=keys.read)).text
    assert "walletsync_events_oldest_undelivered_seconds 36" in metrics
    relay = Relay(api.db, api.settings)
    try:
        await relay.drain()  # published; no webhook to wait for
    finally:
        await relay.aclose()
    (events,) = [c for c in (await api.client.get("/readyz")).json()["checks"] if c["name"] == "events"]
    assert events["ok"] is True
