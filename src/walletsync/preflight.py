"""Start-up checks that turn a wrong or unreachable database or Redis into one line naming the setting.

Without them, the first query of a command fails deep inside SQLAlchemy, psycopg or asyncpg and the
operator gets a 150-line traceback. Each check makes one short connection (a few milliseconds when the
server is there) before any other work, so a typo in `DATABASE_URL` costs one line and exit code 2:

    error: DATABASE_URL: cannot connect to postgresql://app@db:5432/walletsync: password authentication failed for user "app"
"""

from __future__ import annotations

import errno
import re
import sys

from walletsync.config import Settings, env_name
from walletsync.errors import WalletsyncError

CONNECT_TIMEOUT_S = 5


class UnreachableError(WalletsyncError):
    """A configured server cannot be reached or refuses us: a configuration problem at start."""

    status = 503
    title = "Service unavailable"
    exit_code = 2


def safe_url(url: str) -> str:
    """The URL with any password masked, for printing."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparseable URL is shown as its scheme only
        return url.split("://", 1)[0] + "://…"


def one_line(exc: BaseException) -> str:
    """The driver's own reason, on one line, without the `connection to server at ... failed:` preamble."""
    orig = getattr(exc, "orig", None) or exc
    text = " ".join(str(orig).split())
    text = re.sub(r"^connection failed: ", "", text)
    text = re.sub(r'connection to server at "[^"]*"(?: \([^)]*\))?, port \d+ failed: ', "", text)
    text = text.replace("FATAL: ", "").replace(
        " Is the server running on that host and accepting TCP/IP connections?", ""
    )
    return text.strip() or type(orig).__name__


def check_database(url: str, setting: str) -> None:
    """Connect once to `url` (psycopg, synchronous: commands call this before their event loop)."""
    from sqlalchemy import create_engine, pool
    from sqlalchemy.exc import SQLAlchemyError

    from walletsync.db.engine import psycopg_url

    engine = create_engine(
        psycopg_url(url), poolclass=pool.NullPool, connect_args={"connect_timeout": CONNECT_TIMEOUT_S}
    )
    try:
        with engine.connect():
            pass
    except (SQLAlchemyError, OSError) as exc:
        raise UnreachableError(f"{setting}: cannot connect to {safe_url(url)}: {one_line(exc)}") from None
    finally:
        engine.dispose()


def check_databases(settings: Settings) -> None:
    """`DATABASE_URL` and, when set, `DATABASE_DIRECT_URL` (replicas are optional: reads skip a dead one)."""
    if settings.database_url:
        check_database(settings.database_url, env_name("database_url"))
    if settings.database_direct_url:
        check_database(settings.database_direct_url, env_name("database_direct_url"))


def check_redis(settings: Settings) -> None:
    """PING the configured Redis once; nothing to do without `REDIS_URL` (the in-process cache is used)."""
    if not settings.redis_url:
        return
    from redis import Redis
    from redis.exceptions import RedisError

    client = Redis.from_url(
        settings.redis_url, socket_connect_timeout=CONNECT_TIMEOUT_S, socket_timeout=CONNECT_TIMEOUT_S
    )
    try:
        client.ping()
    except (RedisError, OSError) as exc:
        raise UnreachableError(
            f"{env_name('redis_url')}: cannot connect to {safe_url(settings.redis_url)}: {one_line(exc)}"
        ) from None
    finally:
        client.close()


def describe_connection_error(exc: BaseException) -> str | None:
    """One line for a database or Redis connection lost after start, or None for any other error.

    Only modules already imported are consulted: an error cannot come from a library never loaded,
    and the CLI's error path should not import the database stack.
    """
    sa_exc = sys.modules.get("sqlalchemy.exc")
    asyncpg_exc = sys.modules.get("asyncpg.exceptions")
    redis_exc = sys.modules.get("redis.exceptions")
    if sa_exc is not None and isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
        return f"database connection failed ({env_name('database_url')}): {one_line(exc)}"
    if asyncpg_exc is not None and isinstance(
        exc, asyncpg_exc.PostgresConnectionError | asyncpg_exc.InterfaceError
    ):
        return f"database connection failed ({env_name('database_url')}): {one_line(exc)}"
    if redis_exc is not None and isinstance(exc, redis_exc.ConnectionError | redis_exc.TimeoutError):
        return f"Redis connection failed ({env_name('redis_url')}): {one_line(exc)}"
    if isinstance(exc, ConnectionError):
        return f"connection failed: {one_line(exc)}"
    return None


def check_port_free(host: str, port: int, option: str = "--port") -> None:
    """Fail with one line when `host:port` cannot be bound, before the command starts anything.

    uvicorn reports a taken port only after the database, migrations and (for `demo`) the syncs, and
    then `serve` kept running without its API. Binding a throwaway socket here (with SO_REUSEADDR,
    as uvicorn does) finds the conflict first.
    """
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as exc:
        raise UnreachableError(f"--host {host}: {exc.strerror or exc}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            reason = "already in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
            raise UnreachableError(f"{option} {port}: cannot listen on {host}:{port}: {reason}") from None
