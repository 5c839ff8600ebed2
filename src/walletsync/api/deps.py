"""What every router shares: the app's state (database, cache, limiter), auth by scope, pagination
cursors and time parameters (from `params.py`), and the cached-response helper.

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

import ipaddress
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import SQLAlchemyError
from starlette.responses import Response

from walletsync.api.errors import ApiError
from walletsync.api.keys import (
    KeyMemo,
    Principal,
    RevocationListener,
    Scope,
    hash_key,
    verify_key,
    well_formed,
)
from walletsync.api.params import (
    AUTHENTICATES,
    Limit,
    Timestamp,
    as_utc,
    check_request,
    cursor_query,
    decode_cursor,
    encode_cursor,
    invalid_param,
    ordered,
)
from walletsync.api.ratelimit import KeyRateLimiter
from walletsync.cache import CacheLayer, Loader
from walletsync.config import Settings
from walletsync.db.engine import Database

__all__ = [
    "AdminAccess",
    "AppState",
    "KeyedReadAccess",
    "Limit",
    "MetricsAccess",
    "OptionalAdmin",
    "ReadAccess",
    "StateDep",
    "Timestamp",
    "WriteAccess",
    "as_utc",
    "cached_json",
    "cursor_query",
    "decode_cursor",
    "encode_cursor",
    "invalid_param",
    "ordered",
]


@dataclass
class AppState:
    settings: Settings
    db: Database
    cache: CacheLayer
    limiter: KeyRateLimiter
    key_memo: KeyMemo
    head_revision: str
    revocations: RevocationListener | None = None


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
    """The key's principal, or None. Malformed keys cost nothing; unknown ones one query per minute."""
    if not well_formed(presented):
        return None
    digest = hash_key(presented)
    known, principal = state.key_memo.lookup(digest)
    if known:
        return principal
    # The primary, not a replica: a revocation must count at once, not after replication lag.
    async with state.db.primary.connect() as conn:
        principal = await verify_key(conn, presented)
    if principal is None:
        state.key_memo.put_unknown(digest)
    else:
        state.key_memo.put(digest, principal)
    return principal


def client_address(request: Request, settings: Settings) -> str:
    """The client's address: the peer, or, when the peer is a trusted proxy, the rightmost address
    in `X-Forwarded-For` that is not one (what a client prepends there itself is never believed)."""
    peer = request.client.host if request.client else "unknown"
    if not settings.trusted_proxies or not _trusted(peer, settings.trusted_proxies):
        return peer
    hops = [hop.strip() for value in request.headers.getlist("x-forwarded-for") for hop in value.split(",")]
    for hop in reversed([h for h in hops if h]):
        if not _trusted(hop, settings.trusted_proxies):
            return hop
    return peer


def _trusted(address: str, proxies: list[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(proxy, strict=False) for proxy in proxies)


async def _rate_limit(state: AppState, identity: str) -> None:
    retry_after = await state.limiter.hit(identity)
    if retry_after is not None:
        raise ApiError(
            429,
            f"rate limit of {state.settings.api_rate_limit} exceeded; retry in {retry_after} s",
            title="Too many requests",
            headers={"Retry-After": str(retry_after)},
        )


async def _rate_limit_unverified(state: AppState, client: str) -> None:
    """Spend the client address's budget for a request whose key is not already known valid."""
    retry_after = await state.limiter.hit(f"auth:{client}", state.limiter.auth_item)
    if retry_after is not None:
        raise ApiError(
            429,
            f"more than {state.settings.api_auth_rate_limit} requests without a valid API key from this "
            f"address; retry in {retry_after} s",
            title="Too many requests",
            headers={"Retry-After": str(retry_after)},
        )


Admit = Callable[[Request, HTTPAuthorizationCredentials | None], Awaitable[Principal | None]]


def admit(scope: Scope, *, public_when_allowed: bool = True) -> Admit:
    """The body of `require(scope)`, callable from another dependency (the event stream's, which also
    takes the dashboard's session cookie)."""

    async def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal | None:
        state = app_state(request)
        client = client_address(request, state.settings)
        if credentials is None:
            if scope is Scope.READ and public_when_allowed and state.settings.public_reads:
                await _rate_limit(state, f"ip:{client}")
                await check_request(request)
                return None
            await _rate_limit_unverified(state, client)
            raise ApiError(
                401,
                "an API key is required: send `Authorization: Bearer <key>` "
                "(create one with `walletsync apikeys create NAME --scope read`)",
                headers=_CHALLENGE,
            )
        # Only a key this process already verified skips the per-address budget: every other attempt
        # (malformed, unknown, or new to this process) spends it before any database query.
        if state.key_memo.get(hash_key(credentials.credentials)) is None:
            await _rate_limit_unverified(state, client)
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
        await check_request(request)
        return principal

    return dependency


def require(scope: Scope, *, public_when_allowed: bool = True) -> Any:
    """A dependency that admits a request whose key has `scope` (or better), then spends its rate limit.

    Read routes admit requests without a key when `WALLETSYNC_PUBLIC_READS=true` (rate limited per
    client address) unless `public_when_allowed` is False.
    """
    dependency = admit(scope, public_when_allowed=public_when_allowed)

    async def required(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal | None:
        return await dependency(request, credentials)

    setattr(required, AUTHENTICATES, True)
    return Depends(required)


async def _optional_admin(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> bool:
    """True when the request carries a valid admin key; any other request is simply not admin."""
    if credentials is None:
        return False
    try:
        principal = await authenticate(app_state(request), credentials.credentials)
    except (SQLAlchemyError, OSError):
        return False  # the database is what /readyz is about to report on: answer, without details
    return principal is not None and principal.scope.allows(Scope.ADMIN)


_keyed_read = require(Scope.READ, public_when_allowed=False).dependency


async def _metrics_access(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    """`/metrics` is open with `WALLETSYNC_METRICS_PUBLIC=true`; otherwise it needs a key (read or more)."""
    if not app_state(request).settings.metrics_public:
        assert _keyed_read is not None
        await _keyed_read(request, credentials)


MetricsAccess = Annotated[None, Depends(_metrics_access)]

# For public routes that show more to an admin (`/readyz` details): never refuses a request.
OptionalAdmin = Annotated[bool, Depends(_optional_admin)]

ReadAccess = Annotated[Principal | None, require(Scope.READ)]
KeyedReadAccess = Annotated[Principal | None, require(Scope.READ, public_when_allowed=False)]
WriteAccess = Annotated[Principal | None, require(Scope.WRITE)]
AdminAccess = Annotated[Principal | None, require(Scope.ADMIN)]


# --- cached responses -------------------------------------------------------------------------------
async def cached_json(
    state: AppState, name: str, *parts: object, ttl: float, load: Loader, wallet_id: int | None = None
) -> Response:
    """A JSON response from the cache, or from `load()` (JSON bytes) on a miss."""
    payload = await state.cache.get_or_load(name, *parts, ttl=ttl, load=load, wallet_id=wallet_id)
    return Response(payload, media_type="application/json")
