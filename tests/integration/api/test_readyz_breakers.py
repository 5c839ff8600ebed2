"""/readyz reports the configured endpoints' breakers as of now; stale `open` rows expire."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select

from tests.integration.api.conftest import Api
from walletsync.api.keys import create_key
from walletsync.config import Settings
from walletsync.db.engine import Database
from walletsync.db.models import provider_endpoints
from walletsync.db.provider_endpoints import expire_stale_breakers
from walletsync.providers.endpoints import display_name

pytestmark = pytest.mark.redis

A, B = "https://a.rpc.example", "https://b.rpc.example"


async def _providers_check(make_api: Callable[[Settings], Any], api_settings: Settings) -> dict[str, Any]:
    api: Api = await make_api(api_settings.model_copy(update={"solana_rpc_urls": [A, B]}))
    async with api.db.write() as conn:  # details (the breaker counts) are shown to an admin key only
        admin = await create_key(conn, name="readyz", scope="admin")
    body = (await api.client.get("/readyz", headers={"Authorization": f"Bearer {admin.key}"})).json()
    return next(c for c in body["checks"] if c["name"] == "providers")


async def _row(db: Database, url: str, state: str, opened_ago: timedelta) -> None:
    at = datetime.now(UTC) - opened_ago
    async with db.write() as conn:
        await conn.execute(
            insert(provider_endpoints).values(
                provider="solana", url=display_name(url), breaker_state=state, opened_at=at, updated_at=at
            )
        )


async def test_an_endpoint_without_a_row_is_healthy(
    db: Database, make_api: Callable[[Settings], Any], api_settings: Settings
) -> None:
    """One endpoint open, the other never written: not "every breaker is open"."""
    await _row(db, A, "open", timedelta(seconds=1))
    check = await _providers_check(make_api, api_settings)
    assert check == {"name": "providers", "ok": True, "critical": False, "detail": "solana: 1 closed, 1 open"}


async def test_open_rows_past_their_cooldown_are_half_open_and_every_open_is_degraded(
    db: Database, make_api: Callable[[Settings], Any], api_settings: Settings
) -> None:
    await _row(db, A, "open", timedelta(hours=2))  # cool-down (30 s) long past: the next call probes
    await _row(db, B, "open", timedelta(seconds=1))
    assert (await _providers_check(make_api, api_settings))["detail"] == "solana: 1 half_open, 1 open"

    async with db.write() as conn:
        await conn.execute(
            provider_endpoints.update()
            .where(provider_endpoints.c.url == display_name(A))
            .values(opened_at=datetime.now(UTC))
        )
    check = await _providers_check(make_api, api_settings)
    assert not check["ok"]
    assert check["detail"] == "every endpoint's breaker is open for solana (solana: 2 open)"


async def test_stale_breaker_rows_are_closed_by_the_prune(db: Database) -> None:
    await _row(db, A, "open", timedelta(hours=3))
    await _row(db, B, "open", timedelta(minutes=5))
    for _ in range(12):  # the hourly prune, repeated on one pooled connection
        await expire_stale_breakers(db, now=datetime.now(UTC), older_than=timedelta(hours=1))
    async with db.read() as conn:
        rows = dict(
            (await conn.execute(select(provider_endpoints.c.url, provider_endpoints.c.breaker_state))).all()
        )
    assert rows == {display_name(A): "closed", display_name(B): "open"}
