"""The OpenAPI document: every route documents its statuses and problem responses; a schemathesis run
over `/openapi.json` against the real app (PostgreSQL, Redis) finds no 5xx and no schema violations.

The schemathesis run is bounded (`MAX_EXAMPLES` per operation) so it takes well under two minutes.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.conftest import TestEnv
from tests.integration.api.conftest import seed_wallet_history
from walletsync.api.app import create_app
from walletsync.api.keys import create_key
from walletsync.config import Settings, load_settings
from walletsync.db.engine import Database

pytestmark = pytest.mark.redis

MAX_EXAMPLES = 30

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


@pytest.fixture(scope="module")
def admin_headers(module_settings: Settings) -> dict[str, str]:
    """An admin key and one wallet with history, made before the app starts."""

    async def seed() -> str:
        assert module_settings.database_url is not None
        database = Database.from_settings(module_settings.database_url, module_settings)
        try:
            await seed_wallet_history(
                database, address="Stake11111111111111111111111111111111111111", n_txs=20
            )
            async with database.write() as conn:
                return (await create_key(conn, name="schemathesis", scope="admin")).key
        finally:
            await database.dispose()

    return {"Authorization": f"Bearer {asyncio.run(seed())}"}


@pytest.fixture(scope="module")
def api_schema(module_settings: Settings, admin_headers: dict[str, str]) -> Iterator[Any]:
    """The app's schema, loaded from its own /openapi.json; the app runs in schemathesis' event loop."""
    from schemathesis.python.asgi import shutdown_lifespans

    app = create_app(module_settings)
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    shutdown_lifespans()  # runs the app's lifespan shutdown: engines and cache closed in their own loop


def _excluded(case: Any) -> list[Any]:
    """Checks that cannot hold for this case, each for a reason the document cannot express."""
    # A wallet address is valid only if its checksum and length check out for its chain, which JSON
    # Schema cannot say: schema-valid random strings are rightly refused with 422.
    if case.operation.method.upper() == "POST" and case.operation.path == "/v1/wallets":
        return [positive_data_acceptance]
    # A webhook URL must resolve to a public address (SSRF guard): random hosts are rightly refused.
    if case.operation.method.upper() == "POST" and case.operation.path == "/v1/webhooks":
        return [positive_data_acceptance]
    # A cursor is an opaque token this API issued; a random string is not one (422 naming `cursor`).
    if case.query and "cursor" in case.query:
        return [positive_data_acceptance]
    return []


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_schemathesis_finds_no_server_errors_or_schema_violations(
    api_schema: Any, admin_headers: dict[str, str], mode: GenerationMode
) -> None:
    """Generated requests (valid, then invalid) never get a 5xx, and every response matches the document.

    Each operation is driven through Hypothesis with schemathesis' strategy and all its default checks
    (`call_and_validate`); failures of every operation are collected, then reported together.
    """
    failures: dict[str, str] = {}
    operations = 0
    for result in api_schema.get_all_operations():
        operation = result.ok()
        operations += 1
        if operation.path == "/v1/events/stream":
            continue  # an endless response by design: tests/integration/events/test_streams.py drives it

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
            derandomize=True,
        )
        def check(case: Any) -> None:
            case.call_and_validate(headers=admin_headers, excluded_checks=_excluded(case))

        try:
            check()
        except Unsatisfiable:
            continue  # nothing to make invalid (no parameters, no body): nothing to test in this mode
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collect every operation's failure, then fail once
            failures[f"{operation.method.upper()} {operation.path}"] = str(exc)[:3000]
    assert operations >= 14
    assert not failures, "\n\n".join(f"== {name}\n{text}" for name, text in failures.items())


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
