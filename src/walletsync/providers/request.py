"""What one provider call is and how it ended: the request, the outcome, and their bounded labels.

Split out of the resilient client (`providers.http`) so the pieces that only describe a call (its
cache key, its log-safe path template, its outcome label) are readable and testable without the
retry loop around them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from walletsync.providers.errors import (
    MalformedResponseError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitedError,
)

_ID_SEGMENT = re.compile(r"^(\d+|[^/]{16,})$")


def path_template(path: str) -> str:
    """`path` with identifier segments (numbers, addresses, hashes) replaced by `{id}`: bounded, loggable."""
    return "/".join("{id}" if _ID_SEGMENT.match(seg) else seg for seg in path.split("?", 1)[0].split("/"))


def error_kind(error: ProviderError) -> str:
    """A bounded label for an error: its class name in snake case, without `_error`."""
    name = re.sub(r"(?<!^)(?=[A-Z])", "_", type(error).__name__).lower()
    return name.removesuffix("_error") or "provider"


def outcome_of(error: ProviderError | None) -> str:
    if error is None:
        return "ok"
    if isinstance(error, RateLimitedError):
        return "rate_limited"
    if isinstance(error, ProviderTimeoutError):
        return "timeout"
    if isinstance(error, ProviderConnectionError):
        return "connection_error"
    if isinstance(error, MalformedResponseError):
        return "malformed"
    return "server_error" if error.retryable else "client_error"


def decode_json(content: bytes) -> Any:
    """orjson (several times faster on large RPC batches), or the stdlib for what orjson refuses
    (integers beyond 64 bits, which JSON allows)."""
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        return json.loads(content)


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    params: Mapping[str, str | int] | None
    body: Any
    idempotent: bool
    cost: int
    content: bytes | None = None  # sent as is (`post_bytes`), instead of `body` as JSON
    headers: Mapping[str, str] | None = None

    def cache_key(self) -> str:
        params = sorted((self.params or {}).items())
        return json.dumps([self.method, self.path, params, self.body], sort_keys=True, separators=(",", ":"))

    def rpc_method(self) -> str | None:
        if isinstance(self.body, dict) and isinstance(self.body.get("method"), str):
            return str(self.body["method"])
        if isinstance(self.body, list):
            return f"batch[{len(self.body)}]"
        return None


@dataclass(frozen=True, slots=True)
class Outcome:
    body: Any = None
    error: ProviderError | None = None
    maybe_sent: bool = True  # could the server have processed the request?
