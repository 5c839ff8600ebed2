"""The interactive docs page (`/docs`): Swagger UI served from the package, so it works with no network.

FastAPI's own `/docs` loads Swagger UI from a CDN. Here the assets are vendored (`api/static/`, refreshed
by `scripts/vendor-web-assets` at a pinned swagger-ui-dist version) and served under `/docs/assets/`; the
page is FastAPI's `get_swagger_ui_html` pointed at them. Its one inline script (the `SwaggerUIBundle`
call) is allowed by its SHA-256 hash in the page's Content-Security-Policy, which names no other origin.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

SWAGGER_UI_VERSION = "5.35.0"  # keep in step with scripts/vendor-web-assets
STATIC_DIR = Path(__file__).parent / "static"
ASSETS_PATH = "/docs/assets"
_BASE = f"{ASSETS_PATH}/swagger-ui-{SWAGGER_UI_VERSION}"
# The version is in every URL, so a file never changes under its URL: cache it for a year.
ASSETS_CACHE = "public, max-age=31536000, immutable"


def _html(openapi_url: str) -> str:
    response = get_swagger_ui_html(
        openapi_url=openapi_url,
        title="walletsync - docs",
        swagger_js_url=f"{_BASE}/swagger-ui-bundle.js",
        swagger_css_url=f"{_BASE}/swagger-ui.css",
        swagger_favicon_url=f"{_BASE}/favicon-32x32.png",
        oauth2_redirect_url=None,  # API keys are bearer tokens: no OAuth2 flow, no redirect page
        # No online validator badge (it would call validator.swagger.io).
        swagger_ui_parameters={"validatorUrl": None},
    )
    return bytes(response.body).decode()


def _csp(html: str) -> str:
    """The page's policy: scripts only from this origin plus the page's own inline init script."""
    inline = re.findall(r"<script>(.*?)</script>", html, flags=re.DOTALL)
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()}'" for body in inline
    )
    return (
        f"default-src 'none'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; font-src 'self' data:; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    )


class _Assets(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code in (200, 304):
            response.headers["cache-control"] = ASSETS_CACHE
        return response


def install_docs(app: FastAPI, openapi_url: str) -> None:
    """Serve `/docs` and its assets (call only when `WALLETSYNC_DOCS_ENABLED` is on)."""
    html = _html(openapi_url)
    headers = {"content-security-policy": _csp(html)}

    async def docs(request: Request) -> Response:
        return HTMLResponse(html, headers=headers)

    app.add_route("/docs", docs, include_in_schema=False)
    app.mount(ASSETS_PATH, _Assets(directory=STATIC_DIR), name="docs-assets")
