"""Live streams over real HTTP: SSE and WebSocket clients see every event of a sync, and resume exactly."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from websockets.asyncio.client import connect

from tests.integration.indexing.conftest import ledger, simulator, simulator_settings
from walletsync.api.app import create_app
from walletsync.api.keys import create_key
from walletsync.config import Chain, Settings
from walletsync.db.engine import Database
from walletsync.events.relay import Relay, start_relay, stop_relay
from walletsync.events.streams import Filters, Hub, StreamClosed
from walletsync.indexing.sync import sync_wallet
from walletsync.services import Services, open_services
from walletsync.simulator.ledger import Ledger
from walletsync.simulator.server import SimulatorServer
from walletsync.wallets.repository import add_wallet

from .conftest import add_tx_events
from .conftest import add_wallet as add_test_wallet

__all__ = ["ledger", "simulator"]  # fixtures shared with the indexing tests
WAIT_S = 60


@asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)  # connections wait in the backlog until the app's lifespan has started
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield f"127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def stack(
    db: Database, database_url: str, simulator: SimulatorServer, tmp_path: Path
) -> AsyncIterator[tuple[Services, str, str]]:
    """Services on the simulator, the API served over HTTP, a running relay; yields (services, host, key)."""
    settings = simulator_settings(database_url, simulator, tmp_path / "data", webhook_allow_private=True)
    async with open_services(settings, database_url) as services:
        async with services.db.write() as conn:
            key = (await create_key(conn, name="stream", scope="read")).key
        relay = start_relay(services.db, settings)
        try:
            async with serving(create_app(settings, database=services.db, services=services)) as host:
                yield services, host, key
        finally:
            await stop_relay(relay)


async def sse(
    host: str,
    key: str,
    *,
    want: int,
    query: str = "",
    last_id: str | None = None,
    ready: asyncio.Event | None = None,
) -> list[dict[str, str]]:
    """Read `want` events from the SSE stream; the `connected` comment sets `ready`."""
    headers = {"Authorization": f"Bearer {key}"}
    if last_id is not None:
        headers["Last-Event-ID"] = last_id
    got: list[dict[str, str]] = []
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(WAIT_S, read=None)) as client,
        client.stream("GET", f"http://{host}/v1/events/stream{query}", headers=headers) as response,
    ):
        assert response.status_code == 200, await response.aread()
        event: dict[str, str] = {}
        async for line in response.aiter_lines():
            if line.startswith(":"):
                if ready is not None:
                    ready.set()
                continue
            if not line:
                if event:
                    got.append(event)
                    event = {}
                    if len(got) >= want:
                        return got
                continue
            name, _, value = line.partition(":")
            event[name] = value.removeprefix(" ")
    return got


async def _sync(services: Services, chain: Chain, address: str) -> int:
    async with services.db.write() as conn:
        wallet = await add_wallet(conn, chain=chain, address=address)
    await sync_wallet(services.db, wallet.id, adapters=services.adapters, settings=services.settings)
    return wallet.id


async def test_sse_client_sees_every_tx_of_a_sync_and_resumes_exactly(
    stack: tuple[Services, str, str], ledger: Ledger
) -> None:
    services, host, key = stack
    first = ledger.solana_wallets[1]
    expected = ledger.wallet_tx_ids(Chain.SOLANA, first)
    ready = asyncio.Event()
    reader = asyncio.create_task(sse(host, key, want=len(expected), query="?topic=tx.indexed", ready=ready))
    await asyncio.wait_for(ready.wait(), WAIT_S)
    await _sync(services, Chain.SOLANA, first)
    events = await asyncio.wait_for(reader, WAIT_S)
    tx_ids = [json.loads(e["data"])["data"]["tx_id"] for e in events]
    assert sorted(tx_ids) == sorted(expected)  # every one, none twice
    assert {e["event"] for e in events} == {"tx.indexed"}
    positions = [int(e["id"]) for e in events]
    assert positions == sorted(positions)

    # Reconnect from the middle: the rest of the first sync (replayed), then a second sync live.
    second = ledger.cardano_wallets[1]
    more = ledger.wallet_tx_ids(Chain.CARDANO, second)
    half = len(events) // 2
    ready = asyncio.Event()
    want = len(events) - half - 1 + len(more)
    reader = asyncio.create_task(
        sse(host, key, want=want, query="?topic=tx.indexed", last_id=events[half]["id"], ready=ready)
    )
    await asyncio.wait_for(ready.wait(), WAIT_S)
    await _sync(services, Chain.CARDANO, second)
    resumed = await asyncio.wait_for(reader, WAIT_S)
    resumed_ids = [json.loads(e["data"])["data"]["tx_id"] for e in resumed]
    assert resumed_ids[: len(events) - half - 1] == tx_ids[half + 1 :]  # nothing missed, nothing twice
    assert sorted(resumed_ids[len(events) - half - 1 :]) == sorted(more)


async def test_websocket_client_sees_every_tx_and_resumes_from_the_id_it_sends(
    stack: tuple[Services, str, str], ledger: Ledger
) -> None:
    services, host, key = stack
    address = ledger.solana_wallets[0]
    expected = ledger.wallet_tx_ids(Chain.SOLANA, address)
    headers = {"Authorization": f"Bearer {key}"}
    url = f"ws://{host}/v1/events/ws?topic=tx.indexed"
    frames: list[dict[str, Any]] = []
    async with connect(url, additional_headers=headers) as ws:
        await ws.send(json.dumps({}))
        assert json.loads(await asyncio.wait_for(ws.recv(), WAIT_S)) == {"type": "ready"}
        await _sync(services, Chain.SOLANA, address)
        while len(frames) < len(expected):
            frames.append(json.loads(await asyncio.wait_for(ws.recv(), WAIT_S)))
    assert sorted(f["event"]["data"]["tx_id"] for f in frames) == sorted(expected)
    cut = frames[len(frames) // 3]["seq"]
    async with connect(url, additional_headers=headers) as ws:
        await ws.send(json.dumps({"after": cut}))
        assert json.loads(await asyncio.wait_for(ws.recv(), WAIT_S)) == {"type": "ready"}
        rest = [json.loads(await asyncio.wait_for(ws.recv(), WAIT_S)) for f in frames if f["seq"] > cut]
    assert [f["seq"] for f in rest] == [f["seq"] for f in frames if f["seq"] > cut]


async def test_websocket_without_a_key_is_refused(stack: tuple[Services, str, str]) -> None:
    _, host, _ = stack
    with pytest.raises(Exception, match="403"):
        async with connect(f"ws://{host}/v1/events/ws"):
            pass


async def test_connections_per_key_are_limited(
    db: Database, database_url: str, simulator: SimulatorServer, tmp_path: Path
) -> None:
    settings = simulator_settings(database_url, simulator, tmp_path / "data", events_stream_max_per_key=1)
    async with db.write() as conn:
        key = (await create_key(conn, name="one", scope="read")).key
    async with serving(create_app(settings, database=db)) as host:
        ready = asyncio.Event()
        first = asyncio.create_task(sse(host, key, want=1, ready=ready))
        await asyncio.wait_for(ready.wait(), WAIT_S)
        async with httpx.AsyncClient() as client:
            refused = await client.get(
                f"http://{host}/v1/events/stream", headers={"Authorization": f"Bearer {key}"}
            )
        first.cancel()
        await asyncio.gather(first, return_exceptions=True)
    assert refused.status_code == 429
    assert "at most 1 live streams per API key" in refused.json()["detail"]


async def _never_keep_up(feed: AsyncIterator[Any]) -> None:
    async for _ in feed:
        await asyncio.sleep(0.5)  # slower than the hub hands events over


async def test_a_slow_subscriber_is_dropped_with_a_reason(db: Database, settings: Settings) -> None:
    small = settings.model_copy(update={"events_stream_buffer": 10})
    hub = Hub(db, small)
    relay = Relay(db, small)
    try:
        async with hub.subscribe(Filters(), after=None, kind="test") as feed:
            async with db.write() as conn:
                wallet = await add_test_wallet(conn, "A" * 44)
                await add_tx_events(conn, wallet, "A" * 44, [f"t{i}" for i in range(25)])
            await relay.publish_once()
            with pytest.raises(StreamClosed, match="too slow: more than 10 events waiting"):
                await asyncio.wait_for(_never_keep_up(feed), WAIT_S)
    finally:
        await hub.close()
        await relay.aclose()


@pytest.mark.redis
async def test_with_redis_the_hub_is_woken_over_pub_sub(
    db: Database, settings: Settings, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No LISTEN connection: the relay's PUBLISH wakes the hub (its timer is pushed out of the way)."""
    import walletsync.events.streams as streams

    monkeypatch.setattr(streams, "POLL_S", 120.0)
    with_redis = settings.model_copy(update={"redis_url": redis_url, "cache_namespace": "wstest-events-wake"})
    hub = Hub(db, with_redis)
    relay = Relay(db, with_redis)
    try:
        async with hub.subscribe(Filters(), after=None, kind="test") as feed:
            assert isinstance(hub._listener, streams.RedisWake)
            await asyncio.sleep(0.5)  # subscribed (the first wake-up of a subscription is spent)
            async with db.write() as conn:
                wallet = await add_test_wallet(conn, "A" * 44)
                await add_tx_events(conn, wallet, "A" * 44, ["r1", "r2"])
            await relay.publish_once()
            got = [json.loads((await asyncio.wait_for(anext(feed), 20)).body) for _ in range(2)]
        assert [e["data"]["tx_id"] for e in got] == ["r1", "r2"]
    finally:
        await hub.close()
        await relay.aclose()
