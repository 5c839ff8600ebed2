"""The bytes on the wire of one provider exchange: a request out, a status, headers and body back, or
a `WireFailure` that says whether the request may have reached the server.

Two implementations of one small `Wire` protocol, so the exchange (`providers.exchange`) reads every
answer and failure the same way whatever carries it:

- `AiohttpWire` (`providers.wire_aiohttp`): the default. Measured against httpx on the sync's burst
  (`bench/http_burst.py`: 160 calls at concurrency 100, 200 ms each), httpx/httpcore spent 1.9-2.5 ms
  of CPU per call and answered the last call at 0.65-0.75 s against a 0.4 s bound; aiohttp 0.4 ms
  and 0.43-0.45 s (docs/benchmarks.md). httpcore's pool does work per request that grows with the
  connections it holds (encode/httpcore#1035).
- `HttpxWire`: when the caller hands in an `httpx.AsyncBaseTransport`: the webhook sender's SSRF
  guard (`events.ssrf.GuardedTransport`), in-process ASGI apps and the tests' `httpx.MockTransport`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import httpx

from walletsync.config import ProviderConfig

DEFAULT_HEADERS = {"Accept": "application/json", "User-Agent": "walletsync"}


@dataclass(frozen=True, slots=True)
class WireAnswer:
    status: int
    headers: Mapping[str, str]  # case-insensitive
    body: bytes


class WireFailure(Exception):
    """No answer: `what` happened ("cannot connect", "connect timeout", "read timeout", "connection
    lost"); `sent` is False only when the request cannot have reached the server."""

    def __init__(self, what: str, *, sent: bool, timeout: bool, cause: BaseException) -> None:
        super().__init__(what)
        self.what = what
        self.sent = sent
        self.timeout = timeout
        self.cause = cause


class Wire(Protocol):
    async def send(
        self, method: str, url: str, *, content: bytes | None, headers: Mapping[str, str] | None
    ) -> WireAnswer:
        """The answer, or `WireFailure`; a cancellation propagates as such."""
        ...

    async def aclose(self) -> None: ...


KEEPALIVE_POOL_CAP = 16


def http_client(
    config: ProviderConfig,
    headers: Mapping[str, str] | None,
    transport: httpx.AsyncBaseTransport | None,
) -> httpx.AsyncClient:
    """The `httpx.AsyncClient` of an `HttpxWire`."""
    return httpx.AsyncClient(
        transport=transport,
        headers={**DEFAULT_HEADERS, **(headers or {})},
        timeout=httpx.Timeout(config.timeout_s, connect=config.timeout_s / 2),
        limits=httpx.Limits(
            max_connections=config.max_concurrency + len(config.urls),
            # Re-measured with httpx 0.28.1 / httpcore 1.0.9 (bench/sync_latency.py, 160 requests at
            # concurrency 100): with the cap at 100 the second wave of 60 requests took up to 3.7 s
            # and the client 1.5-1.9 s of CPU, against 0.3-0.45 s at 16. httpcore's pool hands one
            # idle HTTP/1.1 connection to every waiting request at once and the losers re-queue,
            # each pass O(connections x requests) (encode/httpcore#1035, pydantic/httpx2#1075):
            # idle connections are what a burst stalls on, new ones are not.
            max_keepalive_connections=min(config.max_concurrency, KEEPALIVE_POOL_CAP),
        ),
        follow_redirects=False,
    )


class HttpxWire:
    """A `Wire` over an `httpx.AsyncClient` (the injected transport's)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def send(
        self, method: str, url: str, *, content: bytes | None, headers: Mapping[str, str] | None
    ) -> WireAnswer:
        try:
            request = self.client.build_request(method, url, content=content, headers=headers)
            response = await self.client.send(request, stream=True)
            try:
                # Read here, not kept on the response: an httpx response and its stream refer to
                # each other, so a body kept on it stays until the garbage collector's full pass
                # (a 100,000-transaction backfill grew ~2.5 MB per 1,000 transactions).
                body = b"".join([chunk async for chunk in response.aiter_bytes()])
            finally:
                await response.aclose()
        except (httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise WireFailure("connect timeout", sent=False, timeout=True, cause=exc) from exc
        except httpx.TimeoutException as exc:
            raise WireFailure("read timeout", sent=True, timeout=True, cause=exc) from exc
        except httpx.ConnectError as exc:
            raise WireFailure("cannot connect", sent=False, timeout=False, cause=exc) from exc
        except httpx.TransportError as exc:
            raise WireFailure("connection lost", sent=True, timeout=False, cause=exc) from exc
        return WireAnswer(response.status_code, response.headers, body)

    async def aclose(self) -> None:
        await self.client.aclose()
