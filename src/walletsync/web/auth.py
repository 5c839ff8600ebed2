"""Who a dashboard request acts as: the session cookie, scope checks, CSRF, and the cookies themselves.

Cookies are HttpOnly and SameSite=Strict, and Secure unless the browser reached us on a loopback host
(`localhost`, 127.0.0.1, ::1), where plain http is the norm for a local operator. Behind a TLS proxy
the host is public, so the cookie is Secure. State-changing requests also carry the session's CSRF
token (a form field, or the `X-CSRF-Token` header htmx sends), compared in constant time: SameSite
already keeps other sites' forms out, the token covers older browsers and same-site subdomains.
The sign-in form itself has no session yet, so it uses a double-submit cookie.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from starlette.responses import Response

from walletsync.api.deps import AppState, app_state
from walletsync.api.keys import Scope
from walletsync.web.sessions import WebSession, load_session

SESSION_COOKIE = "walletsync_session"
SIGNIN_CSRF_COOKIE = "walletsync_signin_csrf"
CSRF_HEADER = "x-csrf-token"
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


class SignInRequired(Exception):
    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


class WebForbidden(Exception):
    """Rendered as a 403 page (or fragment) with this message."""

    def __init__(self, message: str) -> None:
        self.message = message


def secure_cookies(request: Request) -> bool:
    return (request.url.hostname or "") not in LOOPBACK_HOSTS


def set_cookie(request: Request, response: Response, name: str, value: str, *, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request),
    )


def clear_cookie(request: Request, response: Response, name: str) -> None:
    response.delete_cookie(name, path="/", httponly=True, samesite="strict", secure=secure_cookies(request))


def safe_next(path: str | None) -> str:
    """Where to go after signing in: a path on this site's dashboard, never another origin."""
    if path and path.startswith("/web/") and not path.startswith("//") and "\\" not in path:
        return path
    return "/web/"


def signin_url(request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/web/signin?next={quote(target, safe='')}"


async def _session(request: Request) -> WebSession:
    token = request.cookies.get(SESSION_COOKIE)
    state = app_state(request)
    session = None
    if token:
        # The primary: a sign-out or revocation must count at once, not after replication lag.
        async with state.db.primary.connect() as conn:
            session = await load_session(conn, token)
    if session is None:
        raise SignInRequired(signin_url(request))
    request.state.api_key_name = session.principal.name  # for the access log, like the API's routes
    return session


SessionDep = Annotated[WebSession, Depends(_session)]


async def _state(request: Request) -> AppState:
    return app_state(request)


WebStateDep = Annotated[AppState, Depends(_state)]


def require_scope(session: WebSession, scope: Scope, action: str) -> None:
    if not session.principal.scope.allows(scope):
        raise WebForbidden(
            f"{action} needs a key with the {scope.value} scope; "
            f"you are signed in with a {session.principal.scope.value} key"
        )


def check_csrf(session: WebSession, request: Request, form_token: str | None) -> None:
    presented = request.headers.get(CSRF_HEADER) or form_token or ""
    if not hmac.compare_digest(presented.encode(), session.csrf_token.encode()):
        raise WebForbidden("the form has expired or did not come from this dashboard: reload and try again")


def new_signin_csrf() -> str:
    return secrets.token_urlsafe(24)


def check_signin_csrf(request: Request, form_token: str) -> bool:
    cookie = request.cookies.get(SIGNIN_CSRF_COOKIE, "")
    return bool(cookie) and hmac.compare_digest(cookie.encode(), form_token.encode())
