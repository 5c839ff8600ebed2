"""Request and response values passed between the ASGI app, the fault layer and the provider handlers.

Provider handlers are plain functions of a `SimRequest` returning a `SimResponse`, so they can be
tested without HTTP and the app stays a thin adapter.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson


def dumps(value: Any) -> bytes:
    """Compact JSON bytes: orjson, several times faster than json on transaction bodies (the hot path).

    Integers beyond 64 bits (none are served today) would fall back to the standard encoder.
    """
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(slots=True)
class SimRequest:
    method: str
    path: str  # below the provider prefix, e.g. "/txs/<hash>" or "" for the JSON-RPC root
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""
    parsed: Any = None  # a provider's decoded body, kept between `cost` and `handle`


@dataclass(frozen=True, slots=True)
class SimResponse:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()

    def json(self) -> Any:
        return json.loads(self.body)


def json_response(value: Any, status: int = 200, headers: tuple[tuple[str, str], ...] = ()) -> SimResponse:
    return SimResponse(status=status, body=dumps(value), headers=headers)


class ProviderHandler(Protocol):
    """What the app needs from each simulated provider."""

    name: str

    def cost(self, request: SimRequest) -> int:
        """Rate-limit tokens this request uses (a JSON-RPC batch of N calls costs N)."""
        ...

    def handle(self, request: SimRequest) -> SimResponse: ...

    def rate_limited(self, retry_after_s: int) -> SimResponse:
        """The provider's own 429 response."""
        ...

    def server_error(self, status: int) -> SimResponse:
        """The provider's own 5xx response."""
        ...
