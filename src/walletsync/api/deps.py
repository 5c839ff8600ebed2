"""What every router shares: the app's state (database, cache, limiter), auth by scope, pagination
cursors, time parameters, and the cached-response helper.

A router module imports from here and declares, e.g.:

    @router.get("/things/{id}", response_model=ThingOut, responses=error_responses(401, 403, 404, 422, 429))
    async def get_thing(id: int, state: StateDep, _: ReadAccess) -> Response:
        async def load() -> bytes:
            async with state.db.read() as conn:          # replica when configured
                return ThingOut(...).model_dump_json().encode()
        return await cached_json(state, "things", id, ttl=state.settings.cache_ttl_prices_s, load=load)

Writes use `async with state.db.write() as conn:` (one transaction on the primary, committed when the
block ends, before the response is sent).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BeforeValidator
from starlette.responses import Response

from walletsync.api.errors import ApiError
from walletsync.api.keys import KeyMemo, Principal, Scope, hash_key, verify_key
from walletsync.api.ratelimit import KeyRateLimiter
from walletsync.cache import CacheLayer, Loader
from walletsync.config import Settings
from walletsync.db.engine import Database


@dataclass
class AppState:
    settings: Settings
    db: Database
    cache: CacheLayer
    limiter: KeyRateLimiter
    key_memo: KeyMemo
    head_revision: str


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.walletsync
    return state


async def get_state(request: Request) -> AppState:
    # Async on purpose: FastAPI runs a sync dependency in a worker thread, a hop per request.
    return app_state(request)


StateDep = Annotated[AppState, Depends(get_state)]

# --- auth -------------------------------------------------------------------------------------------
_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key from `walletsync apikeys create`: `Authorization: Bearer wsk_...`.",
)

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="walletsync"'}


async def authenticate(state: AppState, presented: str) -> Principal | None:
    digest = hash_key(presented)
    principal = state.key_memo.get(digest)
    if principal is None:
        # The primary, not a replica: a revocation must count at once, not after replication lag.
        async with state.db.primary.connect() as conn:
            principal = await verify_key(conn, presented)
        if principal is not None:
            state.key_memo.put(digest, principal)
    return principal


async def _rate_limit(state: AppState, identity: str) -> None:
    retry_after = await state.limiter.hit(identity)
    if retry_after is not None:
        raise ApiError(
            429,
            f"rate limit of {state.settings.api_rate_limit} exceeded; retry in {retry_after} s",
            title="Too many requests",
            headers={"Retry-After": str(retry_after)},
        )


def require(scope: Scope, *, public_when_allowed: bool = True) -> Any:
    """A dependency that admits a request whose key has `scope` (or better), then spends its rate limit.

    Read routes admit requests without a key when `WALLETSYNC_PUBLIC_READS=true` (rate limited per
    client address) unless `public_when_allowed` is False.
    """

    async def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal | None:
        state = app_state(request)
        if credentials is None:
            if scope is Scope.READ and public_when_allowed and state.settings.public_reads:
                client = request.client.host if request.client else "unknown"
                await _rate_limit(state, f"ip:{client}")
                return None
            raise ApiError(
                401, "an API key is required: send `Authorization: Bearer <key>`", headers=_CHALLENGE
            )
        principal = await authenticate(state, credentials.credentials)
        if principal is None:
            raise ApiError(401, "the API key is unknown or revoked", headers=_CHALLENGE)
        request.state.api_key_name = principal.name
        if not principal.scope.allows(scope):
            raise ApiError(
                403,
                f"this route needs a key with the {scope.value} scope; this key has {principal.scope.value}",
            )
        await _rate_limit(state, f"key:{principal.key_id}")
        return principal

    return Depends(dependency)


ReadAccess = Annotated[Principal | None, require(Scope.READ)]
KeyedReadAccess = Annotated[Principal | None, require(Scope.READ, public_when_allowed=False)]
WriteAccess = Annotated[Principal | None, require(Scope.WRITE)]
AdminAccess = Annotated[Principal | None, require(Scope.ADMIN)]

# --- pagination -------------------------------------------------------------------------------------
Limit = Annotated[int, Query(ge=1, le=500, description="Page size, 1 to 500.")]
Cursor = Annotated[
    str | None,
    Query(max_length=512, description="Opaque: the `next_cursor` of the previous page."),
]


def invalid_param(location: str, name: str, message: str) -> RequestValidationError:
    """A 422 naming the parameter, like FastAPI's own validation errors."""
    return RequestValidationError([{"type": "value_error", "loc": (location, name), "msg": message}])


def encode_cursor(kind: str, position: list[Any]) -> str:
    raw = json.dumps({"k": kind, "p": position}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, kind: str) -> list[Any]:
    """The position inside a cursor made by `encode_cursor(kind, ...)`; a 422 on anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise invalid_param("query", "cursor", "not a cursor from this API") from None
    if not isinstance(data, dict) or data.get("k") != kind or not isinstance(data.get("p"), list):
        raise invalid_param("query", "cursor", "not a cursor of this listing")
    position: list[Any] = data["p"]
    return position


# --- strict query strings ---------------------------------------------------------------------------
_QUERY_NAMES: dict[int, frozenset[str]] = {}


def _query_names(dependant: Dependant) -> set[str]:
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


async def reject_unknown_query(request: Request) -> None:
    """An app-wide dependency: a query parameter the route does not declare is a 422 naming it.

    Like unknown body fields, a misspelt parameter (`?limt=10`) must not be silently ignored.
    """
    if not request.query_params:
        return
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    allowed = _QUERY_NAMES.get(id(route))
    if allowed is None:
        allowed = _QUERY_NAMES.setdefault(id(route), frozenset(_query_names(route.dependant)))
    unknown = [name for name in request.query_params if name not in allowed]
    if unknown:
        raise RequestValidationError(
            [
                {"type": "extra_forbidden", "loc": ("query", name), "msg": "Unknown query parameter"}
                for name in unknown
            ]
        )


# --- time parameters --------------------------------------------------------------------------------
def _iso_only(value: object) -> object:
    # pydantic also reads "1700000000" or "0.0" as Unix time; the documented format is ISO 8601 only.
    if isinstance(value, str) and not _ISO_DATE.match(value):
        raise ValueError("expected an ISO 8601 timestamp, e.g. 2026-01-31T12:00:00Z")
    return value


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")

# A query timestamp: ISO 8601 (`2026-01-31`, `2026-01-31T12:00:00Z`); no offset means UTC.
Timestamp = Annotated[datetime, BeforeValidator(_iso_only)]


def as_utc(value: datetime | None, name: str) -> datetime | None:
    """A query timestamp as aware UTC (naive ones are taken as UTC); a 422 if it cannot be."""
    if value is None:
        return None
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise invalid_param("query", name, "timestamp out of range") from None


# --- cached responses -------------------------------------------------------------------------------
async def cached_json(
    state: AppState, name: str, *parts: object, ttl: float, load: Loader, wallet_id: int | None = None
) -> Response:
    """A JSON response from the cache, or from `load()` (JSON bytes) on a miss."""
    payload = await state.cache.get_or_load(name, *parts, ttl=ttl, load=load, wallet_id=wallet_id)
    return Response(payload, media_type="application/json")
