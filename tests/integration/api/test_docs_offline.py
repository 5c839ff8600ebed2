"""`/docs` works with no network: every asset it names is served by this app, and its CSP names no other origin."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from typing import Any

import pytest

from tests.integration.api.conftest import Api
from walletsync.config import Settings

pytestmark = pytest.mark.redis

CONTENT_TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/png"}


async def test_docs_page_loads_only_same_origin_assets(api: Api) -> None:
    page = await api.client.get("/docs")
    assert page.status_code == 200
    html = page.text
    urls = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert len(urls) == 3, urls  # bundle, stylesheet, favicon
    assert "http" not in html.replace("http-equiv", "")  # no absolute URL anywhere in the page
    for url in urls:
        assert url.startswith("/"), url
        assert not url.startswith("//"), url
        asset = await api.client.get(url)
        assert asset.status_code == 200, url
        suffix = url[url.rindex(".") :]
        assert CONTENT_TYPES[suffix] in asset.headers["content-type"], (url, asset.headers["content-type"])
        assert "immutable" in asset.headers["cache-control"]
        assert len(asset.content) > 500
    assert "url: '/openapi.json'" in html

    csp = page.headers["content-security-policy"]
    assert "http" not in csp
    assert "*" not in csp
    assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    # The inline init script runs because the policy carries its SHA-256 (CSP Level 2 hash source).
    (inline,) = re.findall(r"<script>(.*?)</script>", html, flags=re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(inline.encode()).digest()).decode()
    assert f"'sha256-{digest}'" in csp
    assert "frame-ancestors 'none'" in csp


async def test_docs_assets_are_gone_with_the_docs(
    make_api: Callable[..., Any], api_settings: Settings
) -> None:
    off: Api = await make_api(api_settings.model_copy(update={"docs_enabled": False}))
    assert (await off.client.get("/docs")).status_code == 404
    assert (await off.client.get("/docs/assets/VERSIONS")).status_code == 404
