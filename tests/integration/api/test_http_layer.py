"""The HTTP layer: security headers, request ids, body size limit, CORS, problem errors, no tracebacks."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tests.integration.api.conftest import SOLANA_ADDRESSES, Api, Keys
from walletsync.config import Settings
from walletsync.logs import configure_logging

pytestmark = pytest.mark.redis

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


def _assert_secure(headers: Any) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert headers[name] == value, name
    csp = headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert "default-src" in csp


async def test_security_headers_on_every_kind_of_response(api: Api, keys: Keys) -> None:
    """2xx, 401, 404 (unknown route), 405, 422 and docs responses all carry the security headers."""
    responses = [
        await api.client.get("/healthz"),
        await api.client.get("/v1/wallets"),
        await api.client.get("/v1/nothing-here"),
        await api.client.put("/v1/wallets", headers=keys.read),
        await api.client.get("/v1/wallets", params={"limit": 0}, headers=keys.read),
        await api.client.get("/docs"),
    ]
    assert [r.status_code for r in responses] == [200, 401, 404, 405, 422, 200]
    for response in responses:
        _assert_secure(response.headers)
    assert "default-src 'none'" in responses[0].headers["content-security-policy"]
    for problem in responses[1:5]:
        assert problem.headers["content-type"] == "application/problem+json"
        assert set(problem.json()) >= {"type", "title", "status", "detail"}


async def test_request_id_is_echoed_generated_and_logged(api: Api, keys: Keys) -> None:
    """A valid X-Request-ID is echoed and logged; a missing or unsafe one is replaced by a fresh id."""
    stream = io.StringIO()
    configure_logging("INFO", "json", stream=stream)
    try:
        given = await api.client.get("/v1/wallets", headers={**keys.read, "X-Request-ID": "client-abc.123"})
        fresh = await api.client.get("/healthz")
        unsafe = await api.client.get("/healthz", headers={"X-Request-ID": "bad id <script>"})
    finally:
        configure_logging()
    assert given.headers["x-request-id"] == "client-abc.123"
    assert len(fresh.headers["x-request-id"]) == 32
    assert unsafe.headers["x-request-id"] != "bad id <script>"
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
    access = [line for line in lines if line.get("event") == "http.request"]
    logged = next(line for line in access if line["request_id"] == "client-abc.123")
    assert logged["route"] == "/v1/wallets"
    assert logged["status"] == 200
    assert logged["key"] == "reader"
    assert not any("wsk_" in json.dumps(line) for line in lines)  # keys never reach the log


async def test_body_over_the_limit_is_413(
    make_api: Callable[[Settings], Any], api_settings: Settings, keys: Keys
) -> None:
    """A declared or streamed body over WALLETSYNC_MAX_BODY_BYTES is refused with 413 before parsing."""
    small: Api = await make_api(api_settings.model_copy(update={"max_body_bytes": 1024}))
    big = {"chain": "solana", "address": SOLANA_ADDRESSES[0], "label": "x" * 2000}
    declared = await small.client.post("/v1/wallets", json=big, headers=keys.write)
    assert declared.status_code == 413
    assert declared.headers["content-type"] == "application/problem+json"
    _assert_secure(declared.headers)

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(8):
            yield b" " * 200

    streamed = await small.client.post(
        "/v1/wallets", content=chunks(), headers={**keys.write, "content-type": "application/json"}
    )
    assert "content-length" not in streamed.request.headers
    assert streamed.status_code == 413
    fits = await small.client.post(
        "/v1/wallets", json={"chain": "solana", "address": SOLANA_ADDRESSES[0]}, headers=keys.write
    )
    assert fits.status_code == 201


async def test_unexpected_errors_are_500_problems_without_traceback(api: Api) -> None:
    """An exception in a route becomes a generic 500 problem; its message and traceback stay in the log."""

    async def boom() -> None:
        raise RuntimeError("secret internals: password=hunter2")

    api.app.add_api_route("/boom", boom)
    response = await api.client.get("/boom")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "the server could not complete the request"
    assert "hunter2" not in response.text
    assert "Traceback" not in response.text
    _assert_secure(response.headers)


async def test_no_cors_by_default(api: Api) -> None:
    """Without WALLETSYNC_CORS_ORIGINS no origin is allowed."""
    response = await api.client.get("/healthz", headers={"Origin": "https://app.example"})
    assert "access-control-allow-origin" not in response.headers


async def test_cors_allows_configured_origins_only(
    make_api: Callable[[Settings], Any], api_settings: Settings
) -> None:
    """A configured origin gets CORS headers (preflight too); others do not."""
    cors: Api = await make_api(api_settings.model_copy(update={"cors_origins": ["https://app.example"]}))
    preflight = await cors.client.options(
        "/v1/wallets",
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "Authorization",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://app.example"
    _assert_secure(preflight.headers)
    other = await cors.client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
    allowed = await cors.client.get("/healthz", headers={"Origin": "https://app.example"})
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
