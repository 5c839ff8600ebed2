"""`default_classifier`: HTTP status to typed error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from walletsync.providers.classify import default_classifier
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


@pytest.mark.parametrize(
    ("status", "kind", "retryable"),
    [
        (400, UpstreamBadRequestError, False),
        (401, ProviderAuthError, False),
        (403, ProviderAuthError, False),
        (402, QuotaExceededError, False),
        (404, UpstreamNotFoundError, False),
        (418, BannedError, False),
        (422, UpstreamBadRequestError, False),
        (429, RateLimitedError, True),
        (500, UpstreamServerError, True),
        (503, UpstreamServerError, True),
    ],
)
def test_status_maps_to_typed_error(status: int, kind: type[ProviderError], retryable: bool) -> None:
    """Each documented status becomes its error type with the right `retryable`."""
    error = default_classifier(status, {"message": "nope"}, {})
    assert type(error) is kind
    assert error is not None
    assert error.retryable is retryable
    assert error.http_status == status
    assert "nope" in str(error)


def test_429_carries_retry_after() -> None:
    """Retry-After of a 429 is read into `retry_after_s`."""
    error = default_classifier(429, None, {"retry-after": "7"})
    assert isinstance(error, RateLimitedError)
    assert error.retry_after_s == 7.0


def test_success_and_malformed_success() -> None:
    """A JSON 2xx is success; a 2xx whose body is not JSON is a (retryable) malformed response."""
    assert default_classifier(200, {"ok": True}, {}) is None
    assert default_classifier(200, [], {}) is None
    error = default_classifier(200, None, {})
    assert isinstance(error, MalformedResponseError)
    assert error.retryable


def test_real_blockfrost_403_body(real_responses: Path) -> None:
    """Blockfrost's real 403 body becomes an auth error quoting the provider's message."""
    body = json.loads((real_responses / "blockfrost" / "error_403_invalid_token_1.json").read_text())
    error = default_classifier(403, body, {})
    assert isinstance(error, ProviderAuthError)
    assert "Invalid project token." in str(error)
