"""What a request may carry, checked once for every route: known query names, no NUL characters,
pagination cursors (their exact format), and timestamps in a range both Python and PostgreSQL represent.

Each refusal is a 422 naming the field (`query.cursor`, `body.label`, `path.name`), raised as a
`RequestValidationError` so the error handlers render it like FastAPI's own validation errors.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import AfterValidator, BeforeValidator, WithJsonSchema

NUL = "\x00"
NUL_MESSAGE = "must not contain a NUL character (U+0000)"


def invalid_param(location: str, name: str, message: str) -> RequestValidationError:
    """A 422 naming the parameter, like FastAPI's own validation errors."""
    return RequestValidationError([{"type": "value_error", "loc": (location, name), "msg": message}])


# --- pagination -------------------------------------------------------------------------------------
# A cursor is `<listing>.<position>`, e.g. `wallets.1234` or `transactions.1042.5Kt...`: a keyset
# position, each part a non-negative integer below 10^18 (so always a bigint) or a transaction id
# (base58 or hex, so alphanumeric). Each listing's pattern is in the OpenAPI document, and it is exact:
# every string it allows is a position (at worst past the end: an empty page), every other string is
# a 422 naming `query.cursor`. Clients still treat cursors as opaque tokens.
Limit = Annotated[int, Query(ge=1, le=500, description="Page size, 1 to 500.")]

_PART_PATTERNS: dict[type, str] = {int: r"(0|[1-9][0-9]{0,17})", str: r"[A-Za-z0-9]{1,128}"}
_PARTS = {int: re.compile(rf"^{_PART_PATTERNS[int]}$"), str: re.compile(rf"^{_PART_PATTERNS[str]}$")}
CURSOR_DESCRIPTION = (
    "Opaque to clients: the `next_cursor` of the previous page. The pattern is exact: anything else, "
    "or a cursor of another listing, is a 422 naming `query.cursor`."
)


def cursor_pattern(kind: str, *shape: type) -> str:
    """The exact pattern of a listing's cursors: its name, then one part per position value."""
    return "^" + re.escape(kind) + "".join(r"\." + _PART_PATTERNS[part] for part in shape) + "$"


def cursor_query(kind: str, *shape: type) -> Any:
    """The `cursor` query parameter of a listing: `Annotated[str | None, cursor_query("wallets", int)]`."""
    return Query(max_length=300, pattern=cursor_pattern(kind, *shape), description=CURSOR_DESCRIPTION)


def encode_cursor(kind: str, position: list[int | str]) -> str:
    parts = [str(value) for value in position]
    for value, text in zip(position, parts, strict=True):
        if not _PARTS[type(value)].match(text):
            raise ValueError(f"{value!r} cannot be a cursor position")
    return ".".join([kind, *parts])


def decode_cursor(cursor: str, kind: str, *shape: type) -> list[Any]:
    """The position inside a cursor of listing `kind` shaped like `shape`; a 422 on anything else.

    The query pattern already refused other strings; this check keeps the function safe on its own.
    """
    name, *parts = cursor.split(".")
    if name != kind or len(parts) != len(shape):
        raise invalid_param("query", "cursor", "not a cursor of this listing")
    position: list[Any] = []
    for part, kind_of in zip(parts, shape, strict=True):
        if not _PARTS[kind_of].match(part):
            raise invalid_param("query", "cursor", "not a cursor of this listing")
        position.append(int(part) if kind_of is int else part)
    return position


# --- strict requests --------------------------------------------------------------------------------
_QUERY_NAMES: dict[int, frozenset[str]] = {}


def _query_names(dependant: Dependant) -> set[str]:
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def _unknown_query(request: Request) -> list[dict[str, Any]]:
    """A query parameter the route does not declare: like unknown body fields, a misspelt parameter
    (`?limt=10`) must not be silently ignored."""
    route = request.scope.get("route")
    if not request.query_params or not isinstance(route, APIRoute):
        return []
    allowed = _QUERY_NAMES.get(id(route))
    if allowed is None:
        allowed = _QUERY_NAMES.setdefault(id(route), frozenset(_query_names(route.dependant)))
    return [
        {"type": "extra_forbidden", "loc": ("query", name), "msg": "Unknown query parameter"}
        for name in request.query_params
        if name not in allowed
    ]


# Set on the authentication dependency (`deps.require`), which runs `check_request` itself once the
# caller is known: an anonymous request gets its 401 before any word about its parameters.
AUTHENTICATES = "_walletsync_authenticates"
_AUTHENTICATED_ROUTES: dict[int, bool] = {}


def _authenticates(dependant: Dependant) -> bool:
    return any(
        getattr(sub.call, AUTHENTICATES, False) or _authenticates(sub) for sub in dependant.dependencies
    )


async def check_request(request: Request) -> None:
    """Unknown query parameters and NUL characters anywhere: one 422 naming every such field."""
    errors = _unknown_query(request) + await _nul_errors(request)
    if errors:
        raise RequestValidationError(errors)


async def check_anonymous_route(request: Request) -> None:
    """The app-wide dependency: `check_request` for routes without authentication (the others run it
    right after authenticating)."""
    route = request.scope.get("route")
    if isinstance(route, APIRoute):
        authenticated = _AUTHENTICATED_ROUTES.get(id(route))
        if authenticated is None:
            authenticated = _AUTHENTICATED_ROUTES.setdefault(id(route), _authenticates(route.dependant))
        if authenticated:
            return
    await check_request(request)


def _nul_paths(value: Any, at: tuple[str | int, ...]) -> list[tuple[str | int, ...]]:
    """Where a NUL character sits in a parsed JSON value (in a string, or in an object's key)."""
    if isinstance(value, str):
        return [at] if NUL in value else []
    if isinstance(value, dict):
        found: list[tuple[str | int, ...]] = []
        for key, item in value.items():
            found += [(*at, key)] if NUL in key else _nul_paths(item, (*at, key))
        return found
    if isinstance(value, list):
        return [path for index, item in enumerate(value) for path in _nul_paths(item, (*at, index))]
    return []


_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


async def _nul_errors(request: Request) -> list[dict[str, Any]]:
    """A NUL character in any path, query or JSON body value (or key), each naming its field.

    PostgreSQL text cannot hold U+0000, so such a value would otherwise fail at the database (a 500),
    or worse, be cut short by a library on the way. Checked once here rather than per field.
    """
    errors: list[dict[str, Any]] = [
        {"type": "value_error", "loc": ("path", name), "msg": NUL_MESSAGE}
        for name, value in request.path_params.items()
        if isinstance(value, str) and NUL in value
    ]
    errors += [
        {"type": "value_error", "loc": ("query", name), "msg": NUL_MESSAGE}
        for name, value in request.query_params.multi_items()
        if NUL in name or NUL in value
    ]
    route = request.scope.get("route")
    content_type = request.headers.get("content-type", "")
    if isinstance(route, APIRoute) and route.body_field is not None and content_type.startswith(_FORMS):
        # A form body (the dashboard's): FastAPI parsed it before the dependencies and Starlette kept the
        # parsed form; the raw stream is consumed, so `request.body()` would raise.
        form = await request.form()
        errors += [
            {"type": "value_error", "loc": ("body", name), "msg": NUL_MESSAGE}
            for name, value in form.multi_items()
            if NUL in name or (isinstance(value, str) and NUL in value)
        ]
    elif isinstance(route, APIRoute) and route.body_field is not None:
        # FastAPI read (and cached) the body before running dependencies; `\u0000` is how JSON spells it.
        body = await request.body()
        if b"\\u0000" in body:
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None  # not JSON: FastAPI answers 400 for the body itself
            errors += [
                {"type": "value_error", "loc": ("body", *path), "msg": NUL_MESSAGE}
                for path in _nul_paths(parsed, ())
            ]
    return errors


# --- time parameters --------------------------------------------------------------------------------
# Query timestamps are written with a year from 1970 to 2999: any offset and any series arithmetic on
# them (a 30-day default span, bar alignment) stays inside what Python's datetime and PostgreSQL's
# timestamptz represent. The OpenAPI document carries the same rule as a pattern.
MIN_YEAR, MAX_YEAR = 1970, 2999
_ISO_DATE = re.compile(r"^(\d{4})-\d{2}-\d{2}")
TIMESTAMP_PATTERN = r"^(19[7-9][0-9]|2[0-9]{3})-[0-9]{2}-[0-9]{2}"


def _iso_in_range(value: object) -> object:
    # pydantic also reads "1700000000" or "0.5" as Unix time; the documented format is ISO 8601 only.
    if isinstance(value, str):
        match = _ISO_DATE.match(value)
        if match is None:
            raise ValueError("expected an ISO 8601 timestamp, e.g. 2026-01-31T12:00:00Z")
        if not MIN_YEAR <= int(match.group(1)) <= MAX_YEAR:
            raise ValueError(f"the year must be from {MIN_YEAR} to {MAX_YEAR}")
    elif not isinstance(value, datetime):
        raise ValueError("expected an ISO 8601 timestamp, e.g. 2026-01-31T12:00:00Z")
    return value


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# A query timestamp: ISO 8601 (`2026-01-31`, `2026-01-31T12:00:00Z`), UTC when no offset is given,
# year 1970 to 2999; parsed as an aware UTC datetime.
Timestamp = Annotated[
    datetime,
    BeforeValidator(_iso_in_range),
    AfterValidator(_utc),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": TIMESTAMP_PATTERN}),
]


def as_utc(value: datetime | None, name: str) -> datetime | None:
    """A query timestamp as aware UTC (naive ones are taken as UTC); a 422 if it cannot be."""
    if value is None:
        return None
    try:
        return _utc(value)
    except (OverflowError, ValueError):
        raise invalid_param("query", name, "timestamp out of range") from None


def ordered(start: datetime | None, end: datetime | None, names: tuple[str, str]) -> None:
    """A 422 naming the first parameter when a range is inverted (`from` after `to`)."""
    if start is not None and end is not None and start > end:
        raise invalid_param("query", names[0], f"must not be after `{names[1]}`")
