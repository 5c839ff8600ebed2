"""Fixtures of the adapter tests: real responses read in place, and a `JsonTransport` over `httpx.MockTransport`.

The mock transport does what the resilient client does with a reply (decode JSON, run the adapter's
`classify_error`, raise or return) and nothing else, and records each call so tests can assert the
cost and caching the adapter asked for.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from walletsync.providers.types import ErrorClassifier

Handler = Callable[[httpx.Request], httpx.Response]


@dataclass
class Call:
    method: str
    path: str
    params: dict[str, Any] | None
    body: Any
    cost: int
    cache_ttl_s: float | None
    idempotent: bool


class MockJsonTransport:
    """`JsonTransport` whose HTTP replies come from `handler`."""

    def __init__(
        self, handler: Handler, classify: ErrorClassifier, base_url: str = "http://provider.test"
    ) -> None:
        self.client = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url=base_url)
        self.classify = classify
        self.calls: list[Call] = []

    async def get_json(
        self,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        cache_ttl_s: float | None = None,
        cost: int = 1,
    ) -> Any:
        self.calls.append(Call("GET", path, dict(params) if params else None, None, cost, cache_ttl_s, True))
        return self._decode(await self.client.get(path, params=dict(params) if params else None))

    async def post_json(
        self,
        path: str,
        *,
        body: Any,
        idempotent: bool = True,
        cache_ttl_s: float | None = None,
        cost: int = 1,
    ) -> Any:
        self.calls.append(Call("POST", path, None, body, cost, cache_ttl_s, idempotent))
        return self._decode(await self.client.post(path, json=body))

    def _decode(self, response: httpx.Response) -> Any:
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        error = self.classify(response.status_code, body, response.headers)
        if error is not None:
            raise error
        return body

    async def aclose(self) -> None:
        await self.client.aclose()


ReadResponse = Callable[[str], Any]


@pytest.fixture
def read_response(real_responses: Path) -> ReadResponse:
    """Reader of the shared real responses (decoded JSON), by path relative to that folder."""

    def read(name: str) -> Any:
        return json.loads((real_responses / name).read_text(encoding="utf-8"))

    return read


MakeTransport = Callable[..., MockJsonTransport]


@pytest.fixture
async def make_transport() -> AsyncIterator[MakeTransport]:
    """Factory of mock transports; all closed after the test."""
    made: list[MockJsonTransport] = []

    def make(handler: Handler, classify: ErrorClassifier) -> MockJsonTransport:
        transport = MockJsonTransport(handler, classify)
        made.append(transport)
        return transport

    yield make
    for transport in made:
        await transport.aclose()
