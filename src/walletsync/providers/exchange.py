"""One HTTP exchange with one provider endpoint: the request on the wire, and its answer as a body or
a typed `ProviderError` (step 5 of the resilient client's call, `providers.http`).

Bounded by `timeout_s` in total (httpx's connect timeout is half of it, so an unreachable endpoint is
recognised as "never sent"); the adapter's `ErrorClassifier` reads the answer. Whether the server may
have processed the request (`Outcome.maybe_sent`) decides if a non-idempotent call may be retried.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

import httpx
import orjson

from walletsync.config import ProviderConfig
from walletsync.providers.endpoints import Endpoint
from walletsync.providers.errors import (
    MalformedResponseError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitedError,
)
from walletsync.providers.redact import Scrubber
from walletsync.providers.request import Outcome, Request, decode_json
from walletsync.providers.types import ErrorClassifier

JSON_HEADERS = {"content-type": "application/json"}


def encode_json(body: Any) -> bytes:
    """orjson, or the stdlib for what orjson refuses (integers beyond 64 bits)."""
    try:
        return orjson.dumps(body)
    except orjson.JSONEncodeError:
        return json.dumps(body).encode()


KEEPALIVE_POOL_CAP = 16


def http_client(
    config: ProviderConfig,
    headers: Mapping[str, str] | None,
    transport: httpx.AsyncBaseTransport | None,
) -> httpx.AsyncClient:
    """The one `httpx.AsyncClient` of a provider's resilient client."""
    return httpx.AsyncClient(
        transport=transport,
        headers={"Accept": "application/json", "User-Agent": "walletsync", **(headers or {})},
        timeout=httpx.Timeout(config.timeout_s, connect=config.timeout_s / 2),
        limits=httpx.Limits(
            max_connections=config.max_concurrency + len(config.urls),
            # Measured (bench/sync_latency.py and a bare uvicorn server): with ~100 requests in
            # flight and as many idle keep-alive connections, requests reusing them stall for
            # seconds; capping the idle pool keeps 160 requests at 200 ms latency near 0.4 s.
            max_keepalive_connections=min(config.max_concurrency, KEEPALIVE_POOL_CAP),
        ),
        follow_redirects=False,
    )


class Exchanger:
    """Sends a `Request` to an `Endpoint` and classifies the answer."""

    def __init__(
        self,
        provider: str,
        http: httpx.AsyncClient,
        *,
        timeout_s: float,
        classify: ErrorClassifier,
        scrubber: Scrubber,
        default_params: Mapping[str, str] | None = None,
    ) -> None:
        self.provider = provider
        self.http = http
        self._timeout_s = timeout_s
        self._classify = classify
        self._scrubber = scrubber
        self._default_params = dict(default_params or {})

    async def exchange(self, request: Request, endpoint: Endpoint) -> tuple[Outcome, int | None]:
        """One HTTP exchange: the decoded body or the typed error, and the status when there was one."""
        url = self.url(endpoint, request)
        try:
            async with asyncio.timeout(self._timeout_s):
                if request.content is not None:
                    response = await self.http.request(
                        request.method, url, content=request.content, headers=request.headers
                    )
                elif request.method == "POST":
                    # Encoded with orjson: httpx's `json=` uses the stdlib encoder, a visible cost
                    # on 250-call JSON-RPC batches (3% of a backfill's CPU under py-spy).
                    response = await self.http.request(
                        request.method, url, content=encode_json(request.body), headers=JSON_HEADERS
                    )
                else:
                    response = await self.http.request(request.method, url)
        except (httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            return self._failed(ProviderTimeoutError, "connect timeout", exc, endpoint, sent=False), None
        except httpx.TimeoutException as exc:
            return self._failed(ProviderTimeoutError, "read timeout", exc, endpoint, sent=True), None
        except TimeoutError as exc:
            detail = f"no answer within {self._timeout_s}s"
            return self._failed(ProviderTimeoutError, detail, exc, endpoint, sent=True), None
        except httpx.ConnectError as exc:
            return self._failed(ProviderConnectionError, "cannot connect", exc, endpoint, sent=False), None
        except httpx.TransportError as exc:
            return self._failed(ProviderConnectionError, "connection lost", exc, endpoint, sent=True), None
        status = response.status_code
        if request.content is not None:  # raw exchange: the status is the answer
            raw_error = self._classify(status, None, response.headers)
            if raw_error is None:
                return Outcome(body=status), status
            return self._refused(raw_error, endpoint), status
        decoded = True
        try:
            body: Any = decode_json(response.content)
        except (ValueError, RecursionError):
            body, decoded = None, False
        error = self._classify(status, body, response.headers)
        if error is None and not decoded:
            error = MalformedResponseError(f"HTTP {status} with a body that is not JSON", http_status=status)
        if error is None:
            return Outcome(body=body), status
        return self._refused(error, endpoint), status

    def _refused(self, error: ProviderError, endpoint: Endpoint) -> Outcome:
        error.provider = error.provider or self.provider
        error.endpoint = error.endpoint or endpoint.name
        # A 429 was refused before processing; any other answer may follow a processed request.
        return Outcome(error=error, maybe_sent=not isinstance(error, RateLimitedError))

    def _failed(
        self,
        kind: type[ProviderError],
        what: str,
        exc: BaseException,
        endpoint: Endpoint,
        *,
        sent: bool,
    ) -> Outcome:
        reason = self._scrubber.scrub(str(exc)) or type(exc).__name__
        error = kind(f"{what}: {reason}", provider=self.provider, endpoint=endpoint.name)
        error.__cause__ = exc
        return Outcome(error=error, maybe_sent=sent)

    def url(self, endpoint: Endpoint, request: Request) -> httpx.URL:
        """Endpoint URL + path, keeping the endpoint's own query (e.g. `?api-key=`) beside ours."""
        url = httpx.URL(endpoint.url)
        if request.path:
            url = url.copy_with(path=url.path.rstrip("/") + "/" + request.path.lstrip("/"))
        params = {**self._default_params, **(request.params or {})}
        return url.copy_merge_params(params) if params else url
