"""One HTTP exchange with one provider endpoint: the request on the wire, and its answer as a body or
a typed `ProviderError` (step 5 of the resilient client's call, `providers.http`).

Bounded by `timeout_s` in total (the connection has half of it, so an unreachable endpoint is
recognised as "never sent"); the bytes travel over a `providers.wire.Wire` (aiohttp, or httpx with an
injected transport), and the adapter's `ErrorClassifier` reads the answer. Whether the server may
have processed the request (`Outcome.maybe_sent`) decides if a non-idempotent call may be retried.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson

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
from walletsync.providers.wire import Wire, WireFailure

JSON_HEADERS = {"content-type": "application/json"}


def encode_json(body: Any) -> bytes:
    """orjson, or the stdlib for what orjson refuses (integers beyond 64 bits)."""
    try:
        return orjson.dumps(body)
    except orjson.JSONEncodeError:
        return json.dumps(body).encode()


class Exchanger:
    """Sends a `Request` to an `Endpoint` and classifies the answer."""

    def __init__(
        self,
        provider: str,
        wire: Wire,
        *,
        timeout_s: float,
        classify: ErrorClassifier,
        scrubber: Scrubber,
        default_params: Mapping[str, str] | None = None,
    ) -> None:
        self.provider = provider
        self.wire = wire
        self._timeout_s = timeout_s
        self._classify = classify
        self._scrubber = scrubber
        self._default_params = dict(default_params or {})
        self._bases: dict[str, _BaseUrl] = {}

    async def exchange(self, request: Request, endpoint: Endpoint) -> tuple[Outcome, int | None]:
        """One HTTP exchange: the decoded body or the typed error, and the status when there was one."""
        url = self.url(endpoint, request)
        if request.content is not None:
            content, headers = request.content, request.headers
        elif request.method == "POST":
            # Encoded with orjson: the stdlib encoder was a visible cost on 250-call JSON-RPC
            # batches (3% of a backfill's CPU under py-spy).
            content, headers = encode_json(request.body), JSON_HEADERS
        else:
            content, headers = None, None
        try:
            async with asyncio.timeout(self._timeout_s):
                answer = await self.wire.send(request.method, url, content=content, headers=headers)
        except WireFailure as failure:
            kind = ProviderTimeoutError if failure.timeout else ProviderConnectionError
            return self._failed(kind, failure.what, failure.cause, endpoint, sent=failure.sent), None
        except TimeoutError as exc:
            detail = f"no answer within {self._timeout_s}s"
            return self._failed(ProviderTimeoutError, detail, exc, endpoint, sent=True), None
        status = answer.status
        if request.content is not None:  # raw exchange: the status is the answer
            raw_error = self._classify(status, None, answer.headers)
            if raw_error is None:
                return Outcome(body=status), status
            return self._refused(raw_error, endpoint), status
        decoded = True
        try:
            body: Any = decode_json(answer.body)
        except (ValueError, RecursionError):
            body, decoded = None, False
        error = self._classify(status, body, answer.headers)
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

    def url(self, endpoint: Endpoint, request: Request) -> str:
        """Endpoint URL + path, keeping the endpoint's own query (e.g. `?api-key=`) beside ours.

        The same URL as `httpx.URL(endpoint.url).copy_with(path=...).copy_merge_params(params)`, built
        as a string from the endpoint's parts parsed once: those three parses per request were ~5% of
        the exchange's CPU at 100 requests in flight (httpx parses the string once more, as it must).
        """
        base = self._bases.get(endpoint.url)
        if base is None:
            base = self._bases[endpoint.url] = _BaseUrl.parse(endpoint.url)
        path = request.path
        url = base.prefix + "/" + path.lstrip("/") if path else base.whole
        overrides = {**self._default_params, **(request.params or {})}
        if not overrides:
            return url + base.query
        return url + "?" + urlencode([(k, _param_str(v)) for k, v in _merged(base.params, overrides)])


def _param_str(value: object) -> str:
    """A query value as httpx writes it (`true`/`false` for booleans)."""
    if value is True or value is False:
        return "true" if value else "false"
    return "" if value is None else str(value)


def _merged(base: list[tuple[str, str]], overrides: Mapping[str, object]) -> list[tuple[str, object]]:
    """`base` pairs with `overrides` replacing every value of their keys (in the key's first place),
    then the new keys: `httpx.QueryParams.merge`'s order."""
    pairs: list[tuple[str, object]] = []
    for key, value in base:
        if key not in overrides:
            pairs.append((key, value))
        elif all(k != key for k, _ in pairs):
            pairs.append((key, overrides[key]))
    seen = {key for key, _ in base}
    pairs += [(key, value) for key, value in overrides.items() if key not in seen]
    return pairs


@dataclass(frozen=True, slots=True)
class _BaseUrl:
    """An endpoint URL's parts, parsed once: what request URLs are built from."""

    whole: str  # without the query
    prefix: str  # without the query and the path's trailing slash
    query: str  # "?..." or ""
    params: list[tuple[str, str]]

    @classmethod
    def parse(cls, url: str) -> _BaseUrl:
        parsed = httpx.URL(url)
        whole = str(parsed.copy_with(query=None, fragment=None))
        query = parsed.query.decode("ascii")
        return cls(
            whole=whole,
            prefix=str(parsed.copy_with(path=parsed.path.rstrip("/"), query=None, fragment=None)),
            query="?" + query if query else "",
            params=list(parsed.params.multi_items()),
        )
