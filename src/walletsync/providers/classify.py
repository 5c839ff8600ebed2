"""`default_classifier`: the HTTP-status reading of a response, for providers without their own.

Adapters supply their own `ErrorClassifier` (Twelve Data errors come in HTTP 200 bodies, Solana's in
`{"error": ...}`); they can fall back to this one for everything status-based.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from walletsync.providers.errors import (
    BannedError,
    MalformedResponseError,
    ProviderAuthError,
    ProviderError,
    QuotaExceededError,
    RateLimitedError,
    UpstreamBadRequestError,
    UpstreamNotFoundError,
    UpstreamServerError,
)
from walletsync.providers.retry import parse_retry_after


def body_message(body: Any) -> str | None:
    """The provider's own words, where the body has them (`message`, `error`, JSON-RPC `error.message`)."""
    if not isinstance(body, dict):
        return None
    for key in ("message", "error"):
        value = body.get(key)
        if isinstance(value, str) and value:
            return value[:300]
        if isinstance(value, dict) and isinstance(value.get("message"), str):
            return str(value["message"])[:300]
    return None


def default_classifier(status: int, body: Any, headers: Mapping[str, str]) -> ProviderError | None:
    """Map an HTTP status (and a non-JSON success body) to the typed error it means; None for success."""
    said = body_message(body)

    def detail(what: str) -> str:
        return f"HTTP {status} {what}" + (f": {said}" if said else "")

    if status == 429 or status == 425:  # 425: Blockfrost's "mempool full", also "come back later"
        return RateLimitedError(
            detail("rate limited"),
            retry_after_s=parse_retry_after(headers.get("retry-after")),
            http_status=status,
        )
    if status >= 500:
        return UpstreamServerError(detail("server error"), http_status=status)
    if status == 404:
        return UpstreamNotFoundError(detail("not found"), http_status=status)
    if status in (401, 403):
        return ProviderAuthError(detail("not authorized"), http_status=status)
    if status == 402:
        return QuotaExceededError(detail("quota exceeded"), http_status=status)
    if status == 418:
        return BannedError(detail("banned"), http_status=status)
    if 400 <= status < 500:
        return UpstreamBadRequestError(detail("bad request"), http_status=status)
    if status < 200 or status >= 300:
        return UpstreamServerError(detail("unexpected status"), http_status=status)
    if body is None:
        return MalformedResponseError(f"HTTP {status} with a body that is not JSON", http_status=status)
    return None
