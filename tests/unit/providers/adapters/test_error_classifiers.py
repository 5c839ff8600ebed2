"""Each adapter's `classify_error` on real error bodies (JSON-RPC, Blockfrost) and documented Twelve Data ones."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from walletsync.providers import cardano, solana, twelvedata
from walletsync.providers.cardano import MempoolFullError
from walletsync.providers.errors import (
    BannedError,
    MalformedResponseError,
    ProviderAuthError,
    ProviderError,
    QuotaExceededError,
    RateLimitedError,
    RpcError,
    UpstreamBadRequestError,
    UpstreamNotFoundError,
    UpstreamServerError,
)

if TYPE_CHECKING:
    from .conftest import ReadResponse


# --- Solana JSON-RPC --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "error_type", "retryable"),
    [
        ("error_-32005_node_behind_1.json", UpstreamServerError, True),
        ("error_-32005_node_unhealthy_1.json", UpstreamServerError, True),
        ("error_-32004_block_not_available_1.json", UpstreamServerError, True),
        ("error_-32009_slot_skipped_1.json", RpcError, False),
        ("error_-32015_version_not_supported_1.json", RpcError, False),
        ("error_-32602_invalid_params_1.json", UpstreamBadRequestError, False),
        ("getAccountInfo_error_4.json", UpstreamBadRequestError, False),
        ("error_-32002_simulation_failed_1.json", RpcError, False),
    ],
)
def test_solana_rpc_error_bodies(
    read_response: ReadResponse, name: str, error_type: type[ProviderError], retryable: bool
) -> None:
    """JSON-RPC error envelopes (HTTP 200) map to a typed error with the right retryability and message."""
    body = read_response(f"solana/{name}")
    error = solana.classify_error(200, body, {})

    assert type(error) is error_type
    assert error.retryable is retryable
    assert body["error"]["message"] in error.detail
    if isinstance(error, RpcError):
        assert error.code == body["error"]["code"]


def test_solana_http_429_with_json_rpc_429_is_rate_limited() -> None:
    """A public RPC's HTTP 429 (JSON-RPC code 429 inside) is RateLimitedError with Retry-After."""
    body = {
        "jsonrpc": "2.0",
        "error": {"code": 429, "message": "Too many requests for a specific RPC call"},
        "id": 1,
    }
    error = solana.classify_error(429, body, {"retry-after": "7"})

    assert isinstance(error, RateLimitedError)
    assert (error.retry_after_s, error.retryable, error.http_status) == (7.0, True, 429)


def test_solana_json_rpc_429_in_http_200_is_rate_limited() -> None:
    """The JSON-RPC code 429 alone (HTTP 200) is also a rate limit."""
    body = {"jsonrpc": "2.0", "error": {"code": 429, "message": "rate limited"}, "id": 1}
    assert isinstance(solana.classify_error(200, body, {}), RateLimitedError)


@pytest.mark.parametrize(
    ("status", "body", "error_type"),
    [
        (503, None, UpstreamServerError),
        (
            502,
            {"jsonrpc": "2.0", "error": {"code": -32005, "message": "Node is unhealthy"}, "id": 1},
            UpstreamServerError,
        ),
        (401, None, ProviderAuthError),
        (413, None, UpstreamBadRequestError),
        (200, None, MalformedResponseError),
        (200, 83999325, MalformedResponseError),
        (200, {"jsonrpc": "2.0", "id": 1}, MalformedResponseError),
    ],
)
def test_solana_http_level_errors(status: int, body: Any, error_type: type[ProviderError]) -> None:
    """HTTP statuses and non-envelope bodies map to typed errors."""
    assert type(solana.classify_error(status, body, {})) is error_type


@pytest.mark.parametrize(
    "name", ["getTransaction_null_result_1.json", "getSlot_full_1.json", "getSignaturesForAddress_1.json"]
)
def test_solana_successful_envelopes_are_not_errors(read_response: ReadResponse, name: str) -> None:
    """Result envelopes, including a null result, are not errors at the classifier level."""
    assert solana.classify_error(200, read_response(f"solana/{name}"), {}) is None


def test_solana_batch_reply_is_judged_by_the_adapter(read_response: ReadResponse) -> None:
    """A batch reply (a list) is not an error even when an item carries one: items are the adapter's concern."""
    batch = [
        read_response("solana/getSlot_full_1.json"),
        read_response("solana/error_-32005_node_behind_1.json"),
    ]
    assert solana.classify_error(200, batch, {}) is None


# --- Blockfrost -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "error_type", "retryable"),
    [
        ("spec_assembled/error_400.json", UpstreamBadRequestError, False),
        ("spec_assembled/error_403.json", ProviderAuthError, False),
        ("error_403_invalid_token_1.json", ProviderAuthError, False),
        ("spec_assembled/error_404.json", UpstreamNotFoundError, False),
        ("spec_assembled/error_418.json", BannedError, False),
        ("spec_assembled/error_425.json", MempoolFullError, True),
        ("spec_assembled/error_425-2.json", MempoolFullError, True),
        ("spec_assembled/error_429.json", RateLimitedError, True),
        ("spec_assembled/error_500.json", UpstreamServerError, True),
    ],
)
def test_blockfrost_error_bodies(
    read_response: ReadResponse, name: str, error_type: type[ProviderError], retryable: bool
) -> None:
    """Blockfrost `{status_code, error, message}` bodies map by status to typed errors carrying the message."""
    body = read_response(f"blockfrost/{name}")
    error = cardano.classify_error(body["status_code"], body, {})

    assert type(error) is error_type
    assert error.retryable is retryable
    assert error.http_status == body["status_code"]
    assert body["message"] in error.detail


def test_blockfrost_402_is_the_daily_quota() -> None:
    """402 (the spec has no example body) is QuotaExceededError, not retried."""
    body = {"status_code": 402, "error": "Project Over Limit", "message": "Usage is over limit."}
    error = cardano.classify_error(402, body, {})
    assert isinstance(error, QuotaExceededError)
    assert error.retryable is False


def test_blockfrost_429_reads_retry_after() -> None:
    """A 429's Retry-After header becomes the error's hint."""
    error = cardano.classify_error(429, None, {"Retry-After": "3"})
    assert isinstance(error, RateLimitedError)
    assert error.retry_after_s == 3.0


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, None, MalformedResponseError),
        (502, None, UpstreamServerError),
        (200, [], type(None)),
        (200, {"height": 1}, type(None)),
    ],
)
def test_blockfrost_non_json_and_success(status: int, body: Any, expected: type) -> None:
    """A non-JSON 200 is malformed, an HTML 502 is a server error, JSON 200 bodies are fine."""
    assert type(cardano.classify_error(status, body, {})) is expected


# --- Twelve Data ------------------------------------------------------------------------------------
# Bodies as Twelve Data documents and returns them (docs "Errors" table and example; messages as the
# API words them), most with HTTP 200.


def test_twelvedata_minute_limit_waits_for_the_next_minute() -> None:
    """Per-minute credits exhausted: RateLimitedError whose hint is the time to the next whole minute."""
    classify = twelvedata.TwelveDataErrorClassifier(clock=lambda: 1_700_000_025.0)  # :45 past the minute
    body = {
        "code": 429,
        "message": "You have run out of API credits for the current minute. 9 API credits were used, with the "
        "current limit being 8. Wait for the next minute or consider switching to a higher tier plan at "
        "https://twelvedata.com/pricing",
        "status": "error",
    }
    error = classify(200, body, {})

    assert isinstance(error, RateLimitedError)
    assert error.retry_after_s == pytest.approx(15.0)
    assert error.retryable is True


def test_twelvedata_retry_after_header_wins_over_the_minute_clock() -> None:
    """A Retry-After header, when sent, is used as is."""
    classify = twelvedata.TwelveDataErrorClassifier(clock=lambda: 1_700_000_025.0)
    body = {
        "code": 429,
        "message": "You have run out of API credits for the current minute.",
        "status": "error",
    }
    error = classify(429, body, {"Retry-After": "30"})
    assert isinstance(error, RateLimitedError)
    assert error.retry_after_s == 30.0


def test_twelvedata_daily_limit_is_quota_exceeded() -> None:
    """Daily credits exhausted (also code 429) is QuotaExceededError, which is not retried."""
    body = {
        "code": 429,
        "message": "You have run out of API credits for the day. 812 API credits were used, with the current limit "
        "being 800. Wait for the next day or consider switching to a higher tier plan at https://twelvedata.com/pricing",
        "status": "error",
    }
    error = twelvedata.classify_error(200, body, {})
    assert isinstance(error, QuotaExceededError)
    assert error.retryable is False


def test_twelvedata_bad_interval_is_bad_request_without_markdown() -> None:
    """The documented invalid-interval error is UpstreamBadRequestError, its message cleaned of `**`."""
    body = {
        "code": 400,
        "message": "Invalid **interval** provided: 0.99min. Supported intervals: 1min, 5min, 15min, 30min, 45min, "
        "1h, 2h, 4h, 8h, 1day, 1week, 1month",
        "status": "error",
    }
    error = twelvedata.classify_error(200, body, {})

    assert isinstance(error, UpstreamBadRequestError)
    assert "**" not in error.detail
    assert "Invalid interval provided: 0.99min." in error.detail


@pytest.mark.parametrize(
    ("code", "message", "error_type"),
    [
        (401, "**apikey** parameter is incorrect or not specified.", ProviderAuthError),
        (403, "/time_series is available exclusively with pro or higher plans.", ProviderAuthError),
        (404, "**symbol** not found: NOPE. Please specify it correctly.", UpstreamNotFoundError),
        (414, "**symbol** parameter is too long.", UpstreamBadRequestError),
        (500, "Internal server error.", UpstreamServerError),
    ],
)
def test_twelvedata_documented_codes(code: int, message: str, error_type: type[ProviderError]) -> None:
    """Every code of the documented error table maps to its typed error, even inside an HTTP 200."""
    error = twelvedata.classify_error(200, {"code": code, "message": message, "status": "error"}, {})
    assert type(error) is error_type
    assert error.http_status == 200


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, None, MalformedResponseError),
        (503, None, UpstreamServerError),
        (200, {"data": [], "status": "ok"}, type(None)),
        (200, {"meta": {}, "values": [], "status": "ok"}, type(None)),
    ],
)
def test_twelvedata_non_json_and_success(status: int, body: Any, expected: type) -> None:
    """Non-JSON 200 is malformed, a bare 5xx a server error, `status: ok` bodies are fine."""
    assert type(twelvedata.classify_error(status, body, {})) is expected
