"""Mounting the dashboard on the API app, its error pages, and the one-time sign-in link."""

from __future__ import annotations

from fastapi import FastAPI, Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from walletsync.db.engine import Database
from walletsync.web import data, market, pages, partials, signin
from walletsync.web.auth import SignInRequired, WebForbidden
from walletsync.web.render import PAGE_HEADERS, STATIC_DIR, page
from walletsync.web.sessions import create_signin_link_token

STATIC_CACHE = "public, max-age=31536000, immutable"


class VersionedStaticFiles(StaticFiles):
    """Static files cached for a year: every URL the pages use carries the file's content hash."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code in (200, 304):
            response.headers["cache-control"] = STATIC_CACHE
        return response


def _is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


async def _sign_in_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    if request.url.path.startswith("/web/data/"):
        return JSONResponse({"detail": "signed out"}, status_code=401, headers=PAGE_HEADERS)
    if _is_htmx(request):
        # htmx follows HX-Redirect with a full navigation, instead of swapping a sign-in page into a panel.
        return Response(status_code=200, headers={**PAGE_HEADERS, "HX-Redirect": exc.next_path})
    return RedirectResponse(exc.next_path, status_code=303, headers=PAGE_HEADERS)


async def _forbidden(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, WebForbidden)
    if _is_htmx(request):
        # 200 so htmx swaps the message in where the result would have gone.
        return page(request, "partials/message.html", {"message": exc.message, "kind": "error"})
    return page(request, "error.html", {"message": exc.message, "status": 403}, status_code=403)


def install_dashboard(app: FastAPI) -> None:
    """Add the dashboard's routes, `/static/` and `/` → `/web/` to the API app."""
    for module in (signin, pages, market, partials, data):
        app.include_router(module.router)
    app.mount("/static", VersionedStaticFiles(directory=STATIC_DIR), name="static")
    app.add_exception_handler(SignInRequired, _sign_in_required)
    app.add_exception_handler(WebForbidden, _forbidden)

    @app.get("/", include_in_schema=False)
    async def root() -> Response:
        return RedirectResponse("/web/", status_code=307)


async def create_signin_link(db: Database, base_url: str) -> str:
    """A one-time sign-in link (10 minutes, consumed on first use) for the operator running the CLI."""
    async with db.write() as conn:
        token = await create_signin_link_token(conn)
    return f"{base_url.rstrip('/')}/web/signin/link?token={token}"
