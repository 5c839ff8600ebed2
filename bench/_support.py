"""Shared by the benchmark scripts: a throwaway database on a PostgreSQL server, migrated to head."""

from __future__ import annotations

import signal
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlparse

import psycopg
from psycopg import sql

from walletsync.db import migrate

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


@contextmanager
def scratch_database(admin_url: str, prefix: str, *, revision: str = "head") -> Iterator[str]:
    """Create `<prefix>_<random>` on the server of `admin_url`, migrate it (to `revision`), yield its
    URL, drop it."""
    # A benchmark stopped with SIGTERM (kill, timeout) still drops its database: exit through `finally`.
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = urlparse(admin_url)._replace(path=f"/{name}").geturl()
    try:
        migrate.upgrade(url, revision)
        yield url
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
