"""The FastAPI app factory: routers, middleware, error mapping, lifespan (database, cache, limiter).

Adding a resource is one line: write `api/routers/<resource>.py` with a `router`, append it to
`ROUTERS`. Shared dependencies (state, auth scopes, pagination, cached responses) are in `deps.py`;
errors are mapped once in `errors.py`.

`create_app(settings)` opens its own `Database` and cache from `settings` (the CLI resolves the
embedded server and migrates before calling it). Pass `database=` to reuse a database (tests), or
`services=` (`walletsync serve`) to share the worker's database and cache layer, so the worker's
cache invalidations reach this API even without Redis.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import structlog
from fastapi import APIRouter, Depends, FastAPI
from sqlalchemy import literal, select
from starlette.middleware.cors import CORSMiddleware

from walletsync import __version__
from walletsync.api.deps import AppState
from walletsync.api.docs import install_docs
from walletsync.api.errors import install_error_handlers, use_problem_media_type
from walletsync.api.keys import RevocationListener, key_memo
from walletsync.api.middleware import ApiMiddleware
from walletsync.api.outage import install_outage_handler
from walletsync.api.params import check_anonymous_route
from walletsync.api.ratelimit import KeyRateLimiter
from walletsync.api.routers import (
    balances,
    events,
    jobs,
    leaderboards,
    market,
    ops,
    sync,
    transactions,
    valuation,
    wallets,
    webhooks,
)
from walletsync.cache import CacheLayer, current_cache, setup_cache, teardown_cache
from walletsync.config import Settings, get_settings
from walletsync.db import migrate
from walletsync.db.engine import Database
from walletsync.errors import ConfigError

if TYPE_CHECKING:
    from walletsync.services import Services

log = structlog.get_logger(__name__)

ROUTERS: list[APIRouter] = [
    ops.router,
    wallets.router,
    transactions.router,
    balances.router,
    sync.router,
    jobs.router,
    valuation.router,
    leaderboards.router,
    market.router,
    webhooks.router,
    events.router,
]

DESCRIPTION = """\
Wallet balances, transactions and sync state for Solana and Cardano wallets, from walletsync's index.

Authenticate with `Authorization: Bearer <key>` (`walletsync apikeys create NAME --scope read|write|admin`).
Errors are `application/problem+json`. Lists are paginated with an opaque `cursor`. See docs/api.md.
"""


class WalletsyncAPI(FastAPI):
    def openapi(self) -> dict[str, Any]:
        return use_problem_media_type(super().openapi())


async def _hold_a_connection(db: Database) -> None:
    """Open one pooled connection now, so a started API shows in `pg_stat_activity` before its first
    request (the restore guard refuses to restore under a connected walletsync process). An
    unreachable database is not fatal here: requests answer 503 until it is back."""
    try:
        async with db.primary.connect() as conn:
            await conn.execute(select(literal(1)))
    except Exception as exc:  # noqa: BLE001 - reported, then the API starts anyway
        log.warning("api.database_unreachable_at_start", error=type(exc).__name__)


def create_app(
    settings: Settings | None = None, *, database: Database | None = None, services: Services | None = None
) -> FastAPI:
    """The API application. Opens (and closes) what it was not given in the ASGI lifespan."""
    settings = settings or (services.settings if services is not None else get_settings())
    if services is not None and database is None:
        database = services.db
    limiter = KeyRateLimiter(settings)  # validates WALLETSYNC_API_RATE_LIMIT before anything starts
    head = migrate.head_revision()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = database
        if db is None:
            if not settings.database_url:
                raise ConfigError(
                    "DATABASE_URL is not set (run the API with `walletsync api`, which resolves it)"
                )
            db = Database.from_settings(settings.database_url, settings, application_name="walletsync-api")
        await _hold_a_connection(db)
        shared = current_cache() if services is not None else None
        cache: CacheLayer = shared or setup_cache(settings)
        if shared is None and db.replica_count:
            cache.track_writes(db.write_position)  # read-your-writes over replicas (cache.py)
        # Key revocations from any process (API or CLI) reach this one's memo at once (api/keys.py).
        revocations = RevocationListener(db.direct_url, key_memo())
        revocations.start()
        app.state.walletsync = AppState(
            settings=settings,
            db=db,
            cache=cache,
            limiter=limiter,
            key_memo=key_memo(),
            head_revision=head,
            revocations=revocations,
        )
        log.info(
            "api.started",
            cache=cache.backend if settings.cache_enabled else "off",
            replicas=db.replica_count,
            public_reads=settings.public_reads,
        )
        try:
            yield
        finally:
            await revocations.stop()
            if (hub := getattr(app.state, "events_hub", None)) is not None:
                await hub.close()  # live event streams (api/routers/events.py)
            if shared is None:
                await teardown_cache(cache)
            await limiter.close()
            if database is None:
                await db.dispose()

    app = WalletsyncAPI(
        title="walletsync",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_url="/openapi.json",
        docs_url=None,  # served by install_docs below, with Swagger UI from the package (no CDN)
        redoc_url=None,
        dependencies=[Depends(check_anonymous_route)],
        # No redirect to add or drop a trailing slash: Starlette builds its Location from the client's
        # Host header. `/v1/wallets/` is a 404 like any other unknown path.
        redirect_slashes=False,
    )
    if settings.docs_enabled:
        install_docs(app, "/openapi.json")
    install_error_handlers(app)
    install_outage_handler(app)  # a database outage is a 503 with Retry-After
    for router in ROUTERS:
        app.include_router(router)
    webhooks.document_events(app.webhooks)  # the OpenAPI `webhooks` section: one schema per event type
    if settings.dashboard_enabled:
        from walletsync.web import install_dashboard  # imports Jinja2 only when the dashboard is on

        install_dashboard(app)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After", "Location"],
            max_age=600,
        )
    # Added last, so it runs first: every response (errors, CORS preflights) gets its headers.
    app.add_middleware(ApiMiddleware, max_body_bytes=settings.max_body_bytes)
    return app
