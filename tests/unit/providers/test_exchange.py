"""The exchange's request URLs (`providers.exchange`)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from walletsync.providers.classify import default_classifier
from walletsync.providers.exchange import Exchanger
from walletsync.providers.redact import Scrubber
from walletsync.providers.request import Request
from walletsync.providers.wire import HttpxWire

ENDPOINTS = [
    "http://127.0.0.1:8080/blockfrost/api/v0",
    "https://x.test/api/v0/",
    "https://x.test",
    "https://x.test/?api-key=K&b=2",
    "https://x.test/v1?a=1&a=2&k=z",
]
PATHS = ["", "/txs/abc", "txs/abc/utxos", "/addresses/addr1qx"]
DEFAULTS: list[dict[str, str]] = [{}, {"api-key": "S"}, {"a": "9"}]
PARAMS: list[dict[str, Any] | None] = [
    None,
    {"page": 2, "order": "asc"},
    {"a": 5, "q": "a b&c/é"},
    {"flag": True, "off": False, "count": 100},
]


def _httpx_url(
    endpoint: str, path: str, defaults: dict[str, str], params: dict[str, Any] | None
) -> httpx.URL:
    """The oracle: what httpx's own URL methods make of it (the client's former implementation)."""
    url = httpx.URL(endpoint)
    if path:
        url = url.copy_with(path=url.path.rstrip("/") + "/" + path.lstrip("/"))
    merged = {**defaults, **(params or {})}
    return url.copy_merge_params(merged) if merged else url


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_request_url_is_the_one_httpx_builds(endpoint: str) -> None:
    for defaults in DEFAULTS:
        exchanger = Exchanger(
            "p",
            HttpxWire(httpx.AsyncClient()),
            timeout_s=1.0,
            classify=default_classifier,
            scrubber=Scrubber(api_key=None, urls=[endpoint]),
            default_params=defaults,
        )
        for path in PATHS:
            for params in PARAMS:
                request = Request("GET", path, params, None, idempotent=True, cost=1)
                for _ in range(2):  # the second from the cached parts
                    built = exchanger.url(SimpleNamespace(url=endpoint), request)  # type: ignore[arg-type]
                    expected = _httpx_url(endpoint, path, defaults, params)
                    assert str(httpx.URL(built)) == str(expected), (endpoint, path, defaults, params)
