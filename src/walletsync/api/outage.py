"""A database outage is a 503 (problem+json, `Retry-After`), not a 500.

While PostgreSQL restarts or is unreachable, every route that reads or writes fails with a driver
error; those are not bugs of the request, and clients (and load balancers) should retry. This module
recognises them, wherever in the exception chain they sit, and answers 503 with a short wait.
"""

from __future__ import annotations

import structlog
from fastapi import FastAPI, Request
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.responses import Response

from walletsync.api.errors import problem_response

log = structlog.get_logger(__name__)

RETRY_AFTER_S = 5
# SQLSTATE classes of a server that is away: 08 connection exception, 57P01-03 admin/crash shutdown
# and "cannot connect now" (starting up or recovering).
_OUTAGE_SQLSTATES = ("08", "57P01", "57P02", "57P03")
_MAX_CHAIN = 10


def is_database_outage(exc: BaseException) -> bool:
    """True when `exc` (or one of its causes) says the database cannot be reached right now."""
    seen = 0
    current: BaseException | None = exc
    while current is not None and seen < _MAX_CHAIN:
        if isinstance(current, ConnectionError | DisconnectionError | PoolTimeoutError):
            return True
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        sqlstate = getattr(current, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate.startswith(_OUTAGE_SQLSTATES):
            return True
        if type(current).__name__ in ("ConnectionDoesNotExistError", "InterfaceError") and (
            "connection" in str(current).lower()
        ):
            return True  # asyncpg: the connection was closed under the query
        seen += 1
        current = current.__cause__ or current.__context__
    return False


async def _outage(request: Request, exc: Exception) -> Response:
    if not is_database_outage(exc):
        raise exc  # anything else stays a 500 (the last-resort middleware logs it)
    log.warning("http.database_unavailable", path=request.url.path, error=type(exc).__name__)
    return problem_response(
        503,
        "Database unavailable",
        "the database cannot be reached right now; retry shortly",
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


def install_outage_handler(app: FastAPI) -> None:
    for kind in (DBAPIError, DisconnectionError, PoolTimeoutError, OSError):
        app.add_exception_handler(kind, _outage)
