"""Signing in and out of the dashboard: the "API key" form, the one-time link, sign-out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from starlette.responses import RedirectResponse, Response

from walletsync.api.deps import authenticate
from walletsync.web.auth import (
    SESSION_COOKIE,
    SIGNIN_CSRF_COOKIE,
    SessionDep,
    WebStateDep,
    check_csrf,
    check_signin_csrf,
    clear_cookie,
    new_signin_csrf,
    safe_next,
    set_cookie,
)
from walletsync.web.render import PAGE_HEADERS, page
from walletsync.web.sessions import consume_signin_link_token, end_session, start_session

router = APIRouter(prefix="/web", include_in_schema=False)

NextParam = Annotated[str | None, Query(max_length=2000)]


def _form(
    request: Request,
    *,
    next_path: str,
    error: str | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    csrf = new_signin_csrf()
    response = page(
        request,
        "signin.html",
        {"csrf_token": csrf, "next": safe_next(next_path), "error": error, "notice": notice},
        status_code=status,
    )
    set_cookie(request, response, SIGNIN_CSRF_COOKIE, csrf, max_age=3600)
    return response


def _signed_in(request: Request, token: str, max_age: int, target: str) -> Response:
    response = RedirectResponse(target, status_code=303, headers=PAGE_HEADERS)
    set_cookie(request, response, SESSION_COOKIE, token, max_age=max_age)
    clear_cookie(request, response, SIGNIN_CSRF_COOKIE)
    return response


@router.get("/signin")
async def signin_form(
    request: Request, next: NextParam = None, signed_out: Annotated[bool, Query()] = False
) -> Response:
    return _form(request, next_path=next or "/web/", notice="You are signed out." if signed_out else None)


@router.post("/signin")
async def signin(
    request: Request,
    state: WebStateDep,
    api_key: Annotated[str, Form(max_length=200)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/web/",
) -> Response:
    if not check_signin_csrf(request, csrf_token):
        return _form(request, next_path=next, error="The form expired: please sign in again.", status=400)
    principal = await authenticate(state, api_key.strip()) if api_key.strip() else None
    if principal is None:
        return _form(request, next_path=next, error="That API key is unknown or revoked.", status=401)
    ttl = state.settings.dashboard_session_ttl_s
    async with state.db.write() as conn:
        token, _ = await start_session(conn, principal, ttl_s=ttl)
    return _signed_in(request, token, ttl, safe_next(next))


@router.get("/signin/link")
async def signin_link(
    request: Request, state: WebStateDep, token: Annotated[str, Query(max_length=200)] = ""
) -> Response:
    """The one-time link `walletsync demo` and `walletsync serve` print: consumed on first use."""
    ttl = state.settings.dashboard_session_ttl_s
    async with state.db.write() as conn:
        principal = await consume_signin_link_token(conn, token)
        if principal is None:
            session_token = None
        else:
            session_token, _ = await start_session(conn, principal, ttl_s=ttl)
    if session_token is None:
        return _form(
            request,
            next_path="/web/",
            error="This sign-in link is unknown, already used or expired (links last 10 minutes). "
            "Sign in with an API key, or restart `walletsync serve` for a new link.",
            status=401,
        )
    return _signed_in(request, session_token, ttl, "/web/")


@router.post("/signout")
async def signout(
    request: Request,
    state: WebStateDep,
    session: SessionDep,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    check_csrf(session, request, csrf_token)
    async with state.db.write() as conn:
        await end_session(conn, request.cookies.get(SESSION_COOKIE, ""))
    response = RedirectResponse("/web/signin?signed_out=true", status_code=303, headers=PAGE_HEADERS)
    clear_cookie(request, response, SESSION_COOKIE)
    return response
