"""Typed errors of the provider layer; each says whether retrying could help.

The resilient client retries only errors whose `retryable` is true (and only idempotent calls);
everything else surfaces to the caller with the provider's own message.
"""

from __future__ import annotations

from walletsync.errors import WalletsyncError


class ProviderError(WalletsyncError):
    """An upstream call failed."""

    status = 502
    title = "Upstream provider error"
    retryable = False

    def __init__(
        self,
        detail: str,
        *,
        provider: str = "",
        http_status: int | None = None,
        endpoint: str | None = None,
    ) -> None:
        super().__init__(f"{provider}: {detail}" if provider else detail)
        self.provider = provider
        self.http_status = http_status
        self.endpoint = endpoint


class TransientProviderError(ProviderError):
    """Worth retrying: the same call may succeed later."""

    retryable = True


class RateLimitedError(TransientProviderError):
    """HTTP 429 (or a provider's equivalent); `retry_after_s` is the server's hint when it gave one."""

    status = 503

    def __init__(self, detail: str, *, retry_after_s: float | None = None, **kwargs: object) -> None:
        super().__init__(detail, **kwargs)  # type: ignore[arg-type]
        self.retry_after_s = retry_after_s


class UpstreamServerError(TransientProviderError):
    """HTTP 5xx, or a JSON-RPC error that means the node is unhealthy or behind."""


class ProviderTimeoutError(TransientProviderError):
    """Connect or read timeout."""

    status = 504


class ProviderConnectionError(TransientProviderError):
    """The endpoint could not be reached."""


class MalformedResponseError(TransientProviderError):
    """The body was not the JSON shape the API documents (truncated, not JSON, missing fields)."""


class ProviderUnavailableError(ProviderError):
    """Every endpoint of the provider is failing (breakers open) or retries are exhausted."""

    status = 503


class ProviderAuthError(ProviderError):
    """HTTP 401/403: the key (e.g. Blockfrost `project_id`) is missing or invalid."""


class QuotaExceededError(ProviderError):
    """The daily quota is used up (Blockfrost 402, Twelve Data daily credits)."""

    status = 503


class BannedError(ProviderError):
    """Blockfrost 418: the IP was auto-banned after exceeding the limit."""

    status = 503


class UpstreamNotFoundError(ProviderError):
    """HTTP 404 from the provider: the address, transaction or asset does not exist there."""

    status = 404


class UpstreamBadRequestError(ProviderError):
    """HTTP 400 (or JSON-RPC -32602): the request itself is wrong; retrying will not help."""

    status = 400


class RpcError(ProviderError):
    """A JSON-RPC error object that is not one of the transient kinds."""

    def __init__(self, detail: str, *, code: int, **kwargs: object) -> None:
        super().__init__(detail, **kwargs)  # type: ignore[arg-type]
        self.code = code
