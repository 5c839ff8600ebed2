"""Adapters through the real `ResilientClient` (HTTP mocked): classifiers drive retries, adapters get caching."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from walletsync.config import ProviderConfig
from walletsync.providers import cardano, solana, twelvedata
from walletsync.providers.cardano import CardanoAdapter
from walletsync.providers.errors import ProviderError
from walletsync.providers.http import ResilientClient
from walletsync.providers.solana import SolanaAdapter
from walletsync.providers.twelvedata import TwelveDataAdapter
from walletsync.providers.types import ErrorClassifier

Handler = Callable[[httpx.Request], httpx.Response]


def config(name: str) -> ProviderConfig:
    return ProviderConfig(
        name=name,
        urls=(f"http://{name}.test/api",),
        api_key=None,
        rate=1000.0,
        burst=1000,
        max_concurrency=4,
        timeout_s=5.0,
        max_attempts=3,
        backoff_initial_s=0.1,
        backoff_max_s=30.0,
        breaker_failure_threshold=5,
        breaker_cooldown_s=30.0,
        metadata_cache_ttl_s=60.0,
    )


@pytest.fixture
async def clients() -> AsyncIterator[
    tuple[Callable[[str, ErrorClassifier, Handler], ResilientClient], list[float]]
]:
    """Factory of ResilientClients over a mock transport; waits are recorded instead of slept."""
    made: list[ResilientClient] = []
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    def make(name: str, classify: ErrorClassifier, handler: Handler) -> ResilientClient:
        client = ResilientClient(
            config(name), classify=classify, transport=httpx.MockTransport(handler), sleep=sleep
        )
        made.append(client)
        return client

    yield make, waits
    for client in made:
        await client.aclose()


MINT = {
    "context": {"slot": 1},
    "value": {
        "data": {
            "parsed": {"info": {"decimals": 9, "isInitialized": True, "supply": "1000"}, "type": "mint"},
            "program": "spl-token",
            "space": 82,
        },
        "executable": False,
        "lamports": 1461600,
        "owner": "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA",
        "space": 82,
    },
}


async def test_mint_info_is_served_from_the_client_cache(clients: Any) -> None:
    """Two mint_info calls for the same mint send one request: the JSON-RPC body is stable per call."""
    make, _ = clients
    sent: list[Any] = []

    def handle(request: httpx.Request) -> httpx.Response:
        payload = json.loads(request.content)
        sent.append(payload)
        return httpx.Response(200, json={"jsonrpc": "2.0", "id": payload["id"], "result": MINT})

    adapter = SolanaAdapter(make("solana", solana.classify_error, handle), metadata_cache_ttl_s=60)

    first = await adapter.mint_info("MintA")
    second = await adapter.mint_info("MintA")

    assert first == second
    assert first.decimals == 9
    assert len(sent) == 1
    await adapter.mint_info("MintB")
    assert len(sent) == 2


async def test_node_behind_is_retried_by_the_client(clients: Any, read_response: Any) -> None:
    """A -32005 "node behind" reply is retryable: the client retries and the adapter gets the slot."""
    make, waits = clients
    replies = [
        read_response("solana/error_-32005_node_behind_1.json"),
        read_response("solana/getSlot_full_2.json"),
    ]

    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=replies.pop(0))

    adapter = SolanaAdapter(make("solana", solana.classify_error, handle))

    assert await adapter.slot() == 78_478_796
    assert replies == []
    assert len(waits) == 1


async def test_bad_params_are_not_retried(clients: Any, read_response: Any) -> None:
    """A -32602 reply fails at once: one request, the typed error reaches the caller."""
    make, _ = clients
    calls: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, json=read_response("solana/error_-32602_invalid_params_1.json"))

    with pytest.raises(ProviderError) as caught:
        await SolanaAdapter(make("solana", solana.classify_error, handle)).balance("Addr")
    assert caught.value.retryable is False
    assert len(calls) == 1


async def test_blockfrost_unused_address_is_empty_not_unavailable(clients: Any, read_response: Any) -> None:
    """Blockfrost's 404 passes through the client unretried and the adapter reads it as no holdings."""
    make, waits = clients
    calls: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(404, json=read_response("blockfrost/spec_assembled/error_404.json"))

    adapter = CardanoAdapter(make("blockfrost", cardano.classify_error, handle))

    assert await adapter.address_amounts("addr1unused") == []
    assert (len(calls), waits) == (1, [])
    assert calls[0].url.path == "/api/addresses/addr1unused"


async def test_twelvedata_minute_limit_in_http_200_is_waited_out(clients: Any) -> None:
    """A 429 body inside HTTP 200 is retried after the classifier's wait; the second answer is used."""
    make, waits = clients
    limited = {
        "code": 429,
        "message": "You have run out of API credits for the current minute.",
        "status": "error",
    }
    ok = {"data": [{"name": "Binance"}], "status": "ok"}
    replies = [limited, ok]

    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=replies.pop(0))

    classify = twelvedata.TwelveDataErrorClassifier(clock=lambda: 1_699_999_980.0 + 50)  # 10 s to the minute
    exchanges = await TwelveDataAdapter(make("twelvedata", classify, handle)).crypto_exchanges()

    assert [e.name for e in exchanges] == ["Binance"]
    assert waits == [pytest.approx(10.0)]
