"""The API's outer layer, one pure ASGI middleware: request id, security headers, body size limit,
latency metrics by route template, the access log line, and the last-resort 500.

The body limit refuses a declared `Content-Length` over the limit at once, and counts streamed bytes
as the app reads them, raising an HTTP 413 that the error handlers render as a problem. (FastAPI's own
`max_body_size` sends a plain-text 413 of Starlette's instead.)

Pure ASGI rather than Starlette's `BaseHTTPMiddleware`: that one runs the app in a separate task
with a streaming copy of the response, which costs more than a cached read itself.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import MutableMapping
from typing import Any

import structlog
from prometheus_client import Histogram
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from walletsync.api.errors import problem_body

log = structlog.get_logger(__name__)

REQUEST_ID_HEADER = "x-request-id"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

HTTP_LATENCY = Histogram(
    "walletsync_http_request_duration_seconds",
    "API request latency by method, route template and status.",
    ["method", "route", "status"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


TOO_LARGE_DETAIL = "the request body is larger than this API accepts (WALLETSYNC_MAX_BODY_BYTES)"

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# `/docs` sets its own policy (api/docs.py: same-origin assets and the hash of its inline script).
DOCS_PATHS = frozenset({"/docs"})


def security_headers(path: str) -> list[tuple[bytes, bytes]]:
    return [
        (b"content-security-policy", API_CSP.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"x-frame-options", b"DENY"),
        (b"cross-origin-opener-policy", b"same-origin"),
        (b"cache-control", b"no-store"),
    ]


# Routes FastAPI itself serves (not API routes, so the router leaves no route object in the scope).
_FIXED_PATHS = frozenset({"/openapi.json", *DOCS_PATHS})


def route_template(scope: MutableMapping[str, Any]) -> str:
    """The matched route's path template (`/v1/wallets/{wallet_id}`), never the raw path."""
    path = getattr(scope.get("route"), "path", None)
    if isinstance(path, str):
        return path
    if scope.get("path") in _FIXED_PATHS:
        return str(scope["path"])
    # The docs' static files: one label for all of them (api/docs.py mounts them).
    return "/docs/assets" if str(scope.get("path", "")).startswith("/docs/assets/") else "unmatched"


class _ResponseSeen:
    __slots__ = ("finished", "started", "status")

    def __init__(self) -> None:
        self.status = 500  # what the log and metrics say if the app dies before answering
        self.started = False
        self.finished = False  # only tracked for HEAD, whose response ends with its headers


class ApiMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        method = scope["method"]
        head = method == "HEAD"
        if head:
            # HEAD is GET without the body (RFC 9110): routes declare GET only, and HEAD is answered here.
            scope = {**scope, "method": "GET"}
        request_id = _request_id(scope)
        structlog.contextvars.bind_contextvars(request_id=request_id)
        extra_headers = [(b"x-request-id", request_id.encode()), *security_headers(scope["path"])]
        response = _ResponseSeen()

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                response.status = message["status"]
                response.started = True
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in extra_headers if h[0] not in present)
                message["headers"] = headers
            elif head and message["type"] == "http.response.body":
                if response.finished:
                    return  # a streaming body keeps coming until it sees the disconnect below
                response.finished = True
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        try:
            if self._declared_too_large(scope):
                await self._send_problem(send_wrapper, 413, "Payload too large", TOO_LARGE_DETAIL)
            else:
                await self.app(scope, self._limited(receive, response), send_wrapper)
        except Exception:
            log.exception("http.unhandled_error", method=method, route=route_template(scope))
            if response.started:
                raise
            await self._send_problem(
                send_wrapper, 500, "Internal Server Error", "the server could not complete the request"
            )
        finally:
            elapsed = time.perf_counter() - started
            route = route_template(scope)
            status = response.status
            HTTP_LATENCY.labels(method, route, str(status)).observe(elapsed)
            log.info(
                "http.request",
                method=method,
                route=route,
                status=status,
                duration_ms=round(elapsed * 1000, 2),
                key=scope.get("state", {}).get("api_key_name"),
            )
            structlog.contextvars.unbind_contextvars("request_id")

    def _declared_too_large(self, scope: Scope) -> bool:
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    return int(value) > self.max_body_bytes
                except ValueError:
                    return False
        return False

    def _limited(self, receive: Receive, response: _ResponseSeen) -> Receive:
        received = 0
        limit = self.max_body_bytes

        async def limited_receive() -> Message:
            nonlocal received
            if response.finished:  # a HEAD response is complete: a streaming body may stop now
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # FastAPI re-raises HTTP exceptions met while reading a body; the handler renders it.
                    raise HTTPException(413, TOO_LARGE_DETAIL)
            return message

        return limited_receive

    @staticmethod
    async def _send_problem(send: Send, status: int, title: str, detail: str) -> None:
        body = problem_body(status, title, detail)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == REQUEST_ID_HEADER.encode():
            candidate = bytes(value).decode("latin-1")
            if _VALID_REQUEST_ID.match(candidate):
                return candidate
            break
    return uuid.uuid4().hex
