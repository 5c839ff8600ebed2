"""Running Alembic programmatically: upgrade, downgrade, status and check, under an advisory lock.

Migrations run on a synchronous psycopg connection (Alembic is synchronous); callers in async code
run these functions in a thread. A session-level advisory lock serializes concurrent starts, so an
API process and a worker starting together never race on the schema.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Column, Connection, MetaData, String, Table, create_engine, func, inspect, pool, select
from sqlalchemy.schema import DropTableComment, SetTableComment

from walletsync.db.engine import psycopg_url
from walletsync.errors import InvalidInputError, WalletsyncError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Arbitrary constant shared by every walletsync process: the key of the migration advisory lock.
MIGRATION_LOCK_KEY = 0x77_61_6C_6C_65_74  # "wallet"
# `migrate down` leaves this comment on Alembic's own table (the one table a downgrade to base keeps),
# so that auto-migration does not silently undo what the operator just did; `migrate up` to the head
# removes it. A comment needs no schema of its own and travels with backups.
HOLD_PREFIX = "walletsync: held at "
_version_table = Table("alembic_version", MetaData(), Column("version_num", String(32)))


class RevisionError(InvalidInputError):
    """`migrate up/down` was given a revision that does not exist or is not reachable from here."""


class SchemaNotCurrentError(WalletsyncError):
    """The schema is older than this walletsync and will not be migrated automatically."""

    status = 503
    title = "Schema not current"
    exit_code = 2


@dataclass(frozen=True, slots=True)
class MigrationStatus:
    current: tuple[str, ...]
    head: str
    pending: tuple[str, ...]  # revisions between current and head, oldest first

    @property
    def up_to_date(self) -> bool:
        return not self.pending


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("file_template", "%%(year)d%%(month).2d%%(day).2d_%%(rev)s_%%(slug)s")
    if url is not None:
        cfg.set_main_option(
            "sqlalchemy.url", psycopg_url(url).render_as_string(hide_password=False).replace("%", "%%")
        )
    return cfg


@contextmanager
def _locked_connection(url: str) -> Iterator[Connection]:
    engine = create_engine(psycopg_url(url), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(select(func.pg_advisory_lock(MIGRATION_LOCK_KEY)))
            conn.commit()
            try:
                yield conn
            finally:
                conn.rollback()
                conn.execute(select(func.pg_advisory_unlock(MIGRATION_LOCK_KEY)))
                conn.commit()
    finally:
        engine.dispose()


def upgrade(url: str, revision: str = "head") -> MigrationStatus:
    """Upgrade to `revision`; reaching the head releases a hold left by `downgrade`."""
    with _locked_connection(url) as conn:
        cfg = alembic_config(url)
        cfg.attributes["connection"] = conn
        _run(command.upgrade, cfg, "up", revision)
        status = _status(conn)
        if status.up_to_date and held_at(conn) is not None:
            conn.execute(DropTableComment(_version_table))
        conn.commit()
        return status


def downgrade(url: str, revision: str = "-1") -> MigrationStatus:
    """Downgrade to `revision` and hold the database there (auto-migration will not undo it)."""
    with _locked_connection(url) as conn:
        cfg = alembic_config(url)
        cfg.attributes["connection"] = conn
        _run(command.downgrade, cfg, "down", revision)
        status = _status(conn)
        if not status.up_to_date:
            held = Table(
                "alembic_version",
                MetaData(),
                Column("version_num", String(32)),
                comment=HOLD_PREFIX + (", ".join(status.current) or "base"),
            )
            conn.execute(SetTableComment(held))
        conn.commit()
        return status


def _run(step: Callable[[Config, str], None], cfg: Config, verb: str, revision: str) -> None:
    try:
        step(cfg, revision)
    except CommandError as exc:
        known = revisions()
        raise RevisionError(
            f"migrate {verb} {revision}: {exc}; revisions are {known[0]} to {known[-1]}, head, base, "
            "or a relative step such as -1"
        ) from None


def held_at(conn: Connection) -> str | None:
    """The revision `migrate down` left the database at, or None when it is not held."""
    if not inspect(conn).has_table("alembic_version"):
        return None
    comment = inspect(conn).get_table_comment("alembic_version").get("text") or ""
    return comment.removeprefix(HOLD_PREFIX) if comment.startswith(HOLD_PREFIX) else None


def ensure_current(url: str, *, auto_migrate: bool) -> MigrationStatus:
    """Before an ordinary command: migrate to the head when allowed, else refuse an older schema.

    Not allowed: `WALLETSYNC_AUTO_MIGRATE=false`, or a database held by `migrate down`.
    """
    with _locked_connection(url) as conn:
        held = held_at(conn)
        if auto_migrate and held is None:
            cfg = alembic_config(url)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
            conn.commit()
        status = _status(conn)
    if status.up_to_date:
        return status
    at = ", ".join(status.current) or "base"
    if held is not None:
        raise SchemaNotCurrentError(
            f"the database was migrated down to {at} (`walletsync migrate down`); run `walletsync migrate up` "
            f"to bring it back to {status.head}"
        )
    raise SchemaNotCurrentError(
        f"the database schema is at {at} but this walletsync needs {status.head}, and "
        "WALLETSYNC_AUTO_MIGRATE=false: run `walletsync migrate up`"
    )


def check(url: str) -> None:
    """Raise `alembic.util.AutogenerateDiffsDetected` if the models and the schema differ."""
    engine = create_engine(psycopg_url(url), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            cfg = alembic_config(url)
            cfg.attributes["connection"] = conn
            command.check(cfg)
    finally:
        engine.dispose()


def status(url: str) -> MigrationStatus:
    engine = create_engine(psycopg_url(url), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            return _status(conn)
    finally:
        engine.dispose()


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def revisions() -> list[str]:
    """Every revision, oldest first."""
    script = ScriptDirectory.from_config(alembic_config())
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def _status(conn: Connection) -> MigrationStatus:
    script = ScriptDirectory.from_config(alembic_config())
    current = tuple(MigrationContext.configure(conn).get_current_heads())
    head = script.get_current_head()
    assert head is not None
    pending: list[str] = []
    for rev in script.iterate_revisions(head, current[0] if current else "base"):
        pending.append(rev.revision)
    if current and current[0] in pending:
        pending.remove(current[0])
    return MigrationStatus(current=current, head=head, pending=tuple(reversed(pending)))


# What an operator loses with each table a downgrade drops (the rest are named as they are).
TABLE_MEANING = {
    "procrastinate_jobs": "the job queue",
    "job_failures": "job errors",
    "api_keys": "API keys",
    "outbox": "undelivered events",
    "webhooks": "webhook subscriptions",
    "webhook_deliveries": "webhook delivery log",
    "wallets": "tracked wallets",
    "transactions": "indexed transactions",
    "balance_deltas": "balance history",
    "candles": "price history",
    "provider_endpoints": "endpoint health and weights",
}


def downgrade_preview(url: str, revision: str = "-1") -> list[str]:
    """The tables a downgrade to `revision` would drop, found by running it and rolling it back.

    PostgreSQL's DDL is transactional, so this is exact (whatever the revisions do) and leaves the
    database as it was.
    """
    with _locked_connection(url) as conn:
        before = set(inspect(conn).get_table_names())
        cfg = alembic_config(url)
        cfg.attributes["connection"] = conn
        _run(command.downgrade, cfg, "down", revision)
        after = set(inspect(conn).get_table_names())
        conn.rollback()
    return sorted(before - after)


def describe_tables(names: list[str]) -> str:
    """`a, b (the job queue), c`: each dropped table, with what it holds when that is not obvious."""
    return ", ".join(f"{n} ({TABLE_MEANING[n]})" if n in TABLE_MEANING else n for n in names)
