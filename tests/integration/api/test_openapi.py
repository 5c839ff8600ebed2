"""The OpenAPI document: every route documents its statuses and problem responses. (The fuzzing run
against the served API, with schemathesis, is `test_fuzz.py`.)"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import TestEnv
from walletsync.api.app import create_app
from walletsync.config import Settings, load_settings

pytestmark = pytest.mark.redis

# Statuses any authenticated /v1 route can answer besides its successes.
COMMON_ERRORS = {"401", "403", "413", "422", "429", "500"}


@pytest.fixture(scope="module")
def module_settings(
    database_url: str, test_env: TestEnv, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    if not test_env.redis_url:
        pytest.skip("WALLETSYNC_TEST_REDIS_URL unset")
    return load_settings(
        database_url=database_url,
        data_dir=tmp_path_factory.mktemp("data"),
        redis_url=test_env.redis_url,
        auto_migrate=False,
        cache_namespace=f"wstest-{uuid.uuid4().hex[:10]}",
        api_rate_limit="1000000/minute",
    )


# --- static checks of the document ------------------------------------------------------------------
@pytest.fixture(scope="module")
def document(module_settings: Settings) -> dict[str, Any]:
    app = create_app(module_settings)

    async def fetch() -> dict[str, Any]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            response = await client.get("/openapi.json")
            assert response.status_code == 200
            body: dict[str, Any] = response.json()
            return body

    return asyncio.run(fetch())


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def test_every_v1_route_documents_auth_validation_rate_limit_and_server_errors(
    document: dict[str, Any],
) -> None:
    """Each /v1 operation lists 401, 403, 413, 422, 429 and 500, all as problem+json with the Problem schema."""
    ops = [(p, m, o) for p, m, o in _operations(document) if p.startswith("/v1/")]
    assert len(ops) >= 11
    for path, method, operation in ops:
        responses = operation["responses"]
        missing = COMMON_ERRORS - set(responses)
        assert not missing, f"{method.upper()} {path} does not document {sorted(missing)}"
        for status in COMMON_ERRORS:
            content = responses[status]["content"]
            assert list(content) == ["application/problem+json"], (path, status)
            assert content["application/problem+json"]["schema"]["$ref"] == "#/components/schemas/Problem"
        assert operation["security"] == [{"ApiKey": []}]
    assert "429" in document["paths"]["/v1/wallets"]["get"]["responses"]
    assert "Retry-After" in document["paths"]["/v1/wallets"]["get"]["responses"]["429"]["headers"]


def test_body_and_resource_statuses_are_documented(document: dict[str, Any]) -> None:
    """400 (unparseable body) and 409 on POST /wallets, 404 on per-resource routes, 503 on /readyz."""
    paths = document["paths"]
    post_wallets = paths["/v1/wallets"]["post"]["responses"]
    assert {"201", "400", "409"} <= set(post_wallets)
    for path in ("/v1/wallets/{wallet_id}", "/v1/wallets/{wallet_id}/balances", "/v1/jobs/{job_id}"):
        assert "404" in paths[path]["get"]["responses"], path
    assert "409" in paths["/v1/jobs/{job_id}/retry"]["post"]["responses"]
    assert "202" in paths["/v1/wallets/{wallet_id}/sync"]["post"]["responses"]
    assert "503" in paths["/readyz"]["get"]["responses"]
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_request_body_is_strict_in_the_document(document: dict[str, Any]) -> None:
    """The wallet request schema forbids unknown fields."""
    wallet_in = document["components"]["schemas"]["WalletIn"]
    assert wallet_in["additionalProperties"] is False
    assert set(wallet_in["required"]) == {"chain", "address"}


def test_refusals_are_stated_in_the_document(document: dict[str, Any]) -> None:
    """Cursor formats (one exact pattern per listing) and the timestamp rule are in the schema."""

    def param(path: str, name: str) -> dict[str, Any]:
        params = document["paths"][path]["get"]["parameters"]
        schema: dict[str, Any] = next(p for p in params if p["name"] == name)["schema"]
        return next((s for s in schema.get("anyOf", []) if s.get("type") == "string"), schema)

    assert param("/v1/wallets", "cursor")["pattern"] == r"^wallets\.(0|[1-9][0-9]{0,17})$"
    assert param("/v1/jobs", "cursor")["pattern"].startswith(r"^jobs\.")
    assert param("/v1/wallets/{wallet_id}/transactions", "cursor")["pattern"] == (
        r"^transactions\.(0|[1-9][0-9]{0,17})\.[A-Za-z0-9]{1,128}$"
    )
    for path, name in (("/v1/wallets/{wallet_id}/value", "to"), ("/v1/prices/{symbol}", "from")):
        schema = param(path, name)
        assert schema["format"] == "date-time"
        assert schema["pattern"].startswith("^(19[7-9][0-9]|2[0-9]{3})-")
