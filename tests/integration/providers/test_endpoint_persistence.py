"""Endpoint health written through to `provider_endpoints` and read back at start (real PostgreSQL)."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import select

from tests.unit.providers.client_fakes import FakeClock, make_config
from walletsync.db.engine import Database
from walletsync.db.models import provider_endpoints
from walletsync.db.provider_endpoints import endpoint_state_saver, load_endpoint_states, save_endpoint_state
from walletsync.providers.breaker import BreakerState
from walletsync.providers.endpoints import EndpointState, display_name
from walletsync.providers.errors import ProviderUnavailableError
from walletsync.providers.http import ResilientClient


async def test_save_and_load_round_trip_keeps_operator_weight(db: Database) -> None:
    """An upsert updates the breaker columns; the weight of an existing row is the operator's."""
    opened = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    await save_endpoint_state(db, EndpointState("solana", "https://a.example", weight=3))
    await save_endpoint_state(
        db,
        EndpointState(
            "solana",
            "https://a.example",
            weight=1,
            breaker_state=BreakerState.OPEN,
            consecutive_failures=5,
            opened_at=opened,
            last_error="timeout",
        ),
    )
    await save_endpoint_state(db, EndpointState("blockfrost", "https://b.example"))
    (state,) = await load_endpoint_states(db, "solana")
    assert state == EndpointState(
        "solana",
        "https://a.example",
        weight=3,
        breaker_state=BreakerState.OPEN,
        consecutive_failures=5,
        opened_at=opened,
        last_error="timeout",
    )
    assert len(await load_endpoint_states(db)) == 2


async def test_client_writes_breaker_changes_and_a_new_client_starts_from_them(db: Database) -> None:
    """An endpoint that opens is stored open; a client built from the stored state refuses it at once."""
    calls: list[str] = []

    def down(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.host)
        return httpx.Response(503, json={})

    config = make_config(
        urls=("http://down.test/?api-key=SECRET1234",), max_attempts=1, breaker_failure_threshold=2
    )
    clock = FakeClock()
    async with ResilientClient(
        config,
        transport=httpx.MockTransport(down),
        clock=clock,
        sleep=clock.sleep,
        rng=random.Random(1),
        on_change=endpoint_state_saver(db),
    ) as client:
        for _ in range(2):
            with pytest.raises(ProviderUnavailableError):
                await client.get_json("x")
    # aclose flushed the write
    async with db.primary.connect() as conn:
        row = (await conn.execute(select(provider_endpoints))).mappings().one()
    assert row["provider"] == "solana"
    # The display name: host and a hash of the whole URL; the key in the query is not stored.
    assert row["url"] == display_name("http://down.test/?api-key=SECRET1234")
    assert "SECRET1234" not in repr(dict(row))
    assert row["breaker_state"] == "open"
    assert row["consecutive_failures"] == 2
    assert row["opened_at"] is not None
    assert "503" in row["last_error"]

    restarted = ResilientClient(
        config,
        transport=httpx.MockTransport(down),
        initial_states=await load_endpoint_states(db, "solana"),
        rng=random.Random(1),
    )
    async with restarted:
        assert restarted.snapshot()[0].breaker_state is BreakerState.OPEN
        with pytest.raises(ProviderUnavailableError, match="circuit breaker is open"):
            await restarted.get_json("x")
    assert len(calls) == 2
