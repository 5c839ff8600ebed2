"""Methods and paths: HEAD on every GET route, a 405 whose `Allow` lists every method of the path (and
is in the document), and no redirect built from the client's Host header for a trailing slash."""

from __future__ import annotations

import pytest

from tests.integration.api.conftest import Api, Keys, seed_wallet_history

pytestmark = pytest.mark.redis


async def test_head_answers_like_get_without_a_body(api: Api, keys: Keys) -> None:
    """HEAD gets GET's status and headers (Content-Length included) and no body; auth still applies."""
    seeded = await seed_wallet_history(api.db, n_txs=2)
    for path in ("/v1/wallets", f"/v1/wallets/{seeded.wallet_id}/balances", "/healthz", "/openapi.json"):
        get = await api.client.get(path, headers=keys.read)
        head = await api.client.head(path, headers=keys.read)
        assert (head.status_code, get.status_code) == (200, 200), path
        assert head.content == b""
        assert head.headers["content-length"] == get.headers["content-length"] == str(len(get.content))
        assert head.headers["content-type"] == get.headers["content-type"]
    refused = await api.client.head("/v1/wallets")
    assert refused.status_code == 401
    assert refused.content == b""
    assert refused.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/v1/wallets", "GET, HEAD, POST"),
        ("PATCH", "/v1/wallets/1", "DELETE, GET, HEAD"),
        ("DELETE", "/v1/wallets/1/sync", "GET, HEAD, POST"),
        ("OPTIONS", "/v1/wallets/1", "DELETE, GET, HEAD"),
        ("POST", "/healthz", "GET, HEAD"),
    ],
)
async def test_405_lists_every_method_the_path_serves(
    api: Api, keys: Keys, method: str, path: str, allow: str
) -> None:
    """Starlette named only the first matching route's method; the problem's `Allow` has them all."""
    response = await api.client.request(method, path, headers=keys.admin)
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert response.headers["content-type"] == "application/problem+json"


async def test_405_is_in_the_document_with_its_allow_header(api: Api) -> None:
    """Every operation documents the 405 its path answers to other methods."""
    document = (await api.client.get("/openapi.json")).json()
    operations = [op for item in document["paths"].values() for op in item.values()]
    assert len(operations) >= 15
    for operation in operations:
        response = operation["responses"]["405"]
        assert "Allow" in response["headers"]
        assert response["content"]["application/problem+json"]["schema"]["$ref"].endswith("/Problem")


async def test_trailing_slash_is_a_404_never_a_redirect_to_the_clients_host(api: Api, keys: Keys) -> None:
    """`/v1/wallets/` used to redirect to `http://<Host header>/v1/wallets`: an open redirect."""
    response = await api.client.get("/v1/wallets/", headers={**keys.read, "Host": "evil.example"})
    assert response.status_code == 404
    assert "location" not in response.headers
    assert response.json()["detail"] == "no such route"
