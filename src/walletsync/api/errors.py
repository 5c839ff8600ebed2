"""Problem-details errors (RFC 9457): the one place exceptions become HTTP responses.

Every error response is `application/problem+json` with `type`, `title`, `status`, `detail` (and
`errors`, naming each invalid field, on a 422). Mapping:
- any `WalletsyncError` -> its own `status` and `title`, its message as `detail`;
- request validation errors -> 422 naming the field (`query.limit`, `body.chain`), except a body that
  is not parseable JSON -> 400;
- Starlette's HTTP errors (unknown route 404, 405, ...) -> the same status as a problem;
- anything else -> 500 with a fixed detail; the traceback goes to the log, never to the client
  (`ProblemMiddleware` in `middleware.py` catches it).
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match

from walletsync.errors import WalletsyncError

log = structlog.get_logger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:walletsync:problem:"


class FieldError(BaseModel):
    field: str = Field(
        description="Where the invalid value is: `query.limit`, `body.chain`, `path.wallet_id`."
    )
    message: str
    type: str = Field(
        description="The validation error code, e.g. `missing`, `int_parsing`, `extra_forbidden`."
    )


class Problem(BaseModel):
    """An error, as RFC 9457 problem details."""

    type: str = Field(
        description="A URN naming the kind of problem, e.g. `urn:walletsync:problem:not-found`."
    )
    title: str
    status: int
    detail: str
    errors: list[FieldError] | None = Field(default=None, description="Each invalid field (422 only).")


class ApiError(WalletsyncError):
    """An HTTP-level error raised by the API layer itself (auth, rate limit, bad cursor)."""

    def __init__(
        self, status: int, detail: str, *, title: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title or HTTPStatus(status).phrase
        self.headers = headers or {}


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "error"


def problem_body(status: int, title: str, detail: str, *, errors: list[FieldError] | None = None) -> bytes:
    problem = Problem(
        type=TYPE_PREFIX + _slug(title), title=title, status=status, detail=detail, errors=errors
    )
    return problem.model_dump_json(exclude_none=True).encode()


def problem_response(
    status: int,
    title: str,
    detail: str,
    *,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    return Response(
        problem_body(status, title, detail, errors=errors),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


def _field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(part) for part in loc) or "request"


async def _walletsync_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, WalletsyncError)
    headers = exc.headers if isinstance(exc, ApiError) else None
    if exc.status >= 500:
        log.error("http.error", status=exc.status, title=exc.title, detail=exc.detail)
        return problem_response(
            exc.status, exc.title, "the server could not complete the request", headers=headers
        )
    return problem_response(exc.status, exc.title, exc.detail, headers=headers)


async def _validation_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    raw = list(exc.errors())
    if any(err.get("type") == "json_invalid" for err in raw):
        reason = next(
            (str(err.get("ctx", {}).get("error", "")) for err in raw if err.get("type") == "json_invalid"), ""
        )
        return problem_response(
            400, "Malformed request body", f"the body is not valid JSON: {reason}".rstrip(": ")
        )
    errors = [
        FieldError(
            field=_field_name(err.get("loc", ())), message=str(err.get("msg", "")), type=str(err.get("type"))
        )
        for err in raw
    ]
    detail = "; ".join(f"{e.field}: {e.message}" for e in errors) or "invalid request"
    return problem_response(422, "Validation error", detail, errors=errors)


_METHODS = ("DELETE", "GET", "PATCH", "POST", "PUT")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path (Starlette's 405 names only the first route's),
    with HEAD wherever GET is served (the middleware answers HEAD as GET without a body).

    Asks the router itself, method by method, so included routers and mounts count too."""
    routes = request.app.router.routes
    methods = [
        method
        for method in _METHODS
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes)
    ]
    if "GET" in methods:
        methods.append("HEAD")
    return sorted(methods)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(allowed_methods(request))
    try:
        title = HTTPStatus(exc.status_code).phrase
    except ValueError:
        title = "Error"
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail != title else title.lower()
    if exc.status_code == 404 and detail == "not found":
        detail = "no such route"
    elif exc.status_code == 413:
        title = "Payload too large"
    return problem_response(exc.status_code, title, detail, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(WalletsyncError, _walletsync_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)


_DESCRIPTIONS = {
    400: "The body is not valid JSON.",
    401: "No API key, or an unknown or revoked one.",
    403: "The API key lacks the scope this route needs.",
    404: "No such resource.",
    409: "The resource already exists.",
    405: "The path does not serve this method; `Allow` lists every method it does.",
    413: "The request body is larger than WALLETSYNC_MAX_BODY_BYTES.",
    422: "A parameter or body field is invalid; `errors` names each one.",
    429: "The API key's rate limit is spent; retry after `Retry-After` seconds.",
    500: "An unexpected error (details are in the server log, never in the response).",
    503: "A dependency the route needs is unavailable.",
}

_RETRY_AFTER_HEADER = {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}}
_ALLOW_HEADER = {"Allow": {"description": "The methods this path serves.", "schema": {"type": "string"}}}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for these error statuses, all with the `Problem` schema."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        entry: dict[str, Any] = {
            "model": Problem,
            "description": _DESCRIPTIONS.get(status, HTTPStatus(status).phrase),
        }
        if status == 429:
            entry["headers"] = _RETRY_AFTER_HEADER
        if status == 405:
            entry["headers"] = _ALLOW_HEADER
        out[status] = entry
    return out


def _problem_entry(status: int) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "description": _DESCRIPTIONS.get(status, HTTPStatus(status).phrase),
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    if status == 429:
        entry["headers"] = _RETRY_AFTER_HEADER
    if status == 405:
        entry["headers"] = _ALLOW_HEADER
    return entry


# What any operation can answer, whatever its router declared: another method on its path (405), a
# body over the limit (413), an unknown query parameter or a NUL (422), the unexpected (500); with a
# key: 401, 403, 429; with a body: 400 when it is not JSON.
_ANY_OPERATION = (405, 413, 422, 500)
_KEYED_OPERATION = (401, 403, 429)


def use_problem_media_type(openapi: dict[str, Any]) -> dict[str, Any]:
    """Rewrite error responses in the OpenAPI document to `application/problem+json` (what is sent),
    and document on every operation the errors the middleware and dependencies can answer with."""
    for path_item in openapi.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict):
                continue
            responses = operation.setdefault("responses", {})
            statuses = list(_ANY_OPERATION)
            if operation.get("security"):
                statuses += _KEYED_OPERATION
            if "requestBody" in operation:
                statuses.append(400)
            for status in statuses:
                responses.setdefault(str(status), _problem_entry(status))
            for _status, response in responses.items():
                content = response.get("content")
                schema_ref = str(
                    (content or {}).get("application/json", {}).get("schema", {}).get("$ref", "")
                )
                if content and schema_ref.endswith("/Problem"):
                    content[PROBLEM_MEDIA_TYPE] = content.pop("application/json")
    schemas = openapi.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return openapi
