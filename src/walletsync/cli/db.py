"""Database commands: `migrate up|down|status|check`, `backup`, `restore`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from walletsync.cli.common import YesOption, command_group, confirm, console, err_console, load

if TYPE_CHECKING:
    from walletsync.db.migrate import MigrationStatus

migrate_app = command_group("Apply, revert and inspect database migrations.")


def _migration_target() -> str:
    """The URL migrations run on (never auto-migrated first), after printing which database it is."""
    from walletsync.runtime import prepare_database

    settings = load()
    target = prepare_database(settings, auto_migrate=False)
    console.print(f"database: {target.describe(settings)}")
    return target.migration_url


def _print_revision(status: MigrationStatus) -> None:
    console.print(f"at revision {', '.join(status.current) or 'base'} (head {status.head})")


@migrate_app.command("up", context_settings={"ignore_unknown_options": True})
def migrate_up(
    revision: Annotated[str, typer.Argument(help="Target revision (default: the newest).")] = "head",
) -> None:
    """Apply migrations up to REVISION. Running it twice is a no-op."""
    from walletsync.db import migrate

    _print_revision(migrate.upgrade(_migration_target(), revision))


@migrate_app.command("down", context_settings={"ignore_unknown_options": True})
def migrate_down(
    revision: Annotated[str, typer.Argument(help="Target revision: an id, -1 (default) or base.")] = "-1",
    yes: YesOption = False,
) -> None:
    """Revert migrations down to REVISION (default: one step). Until `migrate up`, other commands refuse
    to run rather than migrate back up."""
    from walletsync.db import migrate

    url = _migration_target()
    dropped = migrate.downgrade_preview(url, revision)
    if dropped:
        console.print(
            f"migrate down {revision} drops {len(dropped)} table(s): {migrate.describe_tables(dropped)}"
        )
    if revision == "base":
        confirm("Drop every walletsync table and all indexed data (migrate down base)?", yes=yes)
    _print_revision(migrate.downgrade(url, revision))


@migrate_app.command("status")
def migrate_status() -> None:
    """Show the current revision and the pending ones."""
    from walletsync.db import migrate

    status = migrate.status(_migration_target())
    console.print(f"current:  {', '.join(status.current) or 'base (empty)'}")
    console.print(f"head:     {status.head}")
    if status.up_to_date:
        console.print("[green]up to date[/]")
    else:
        console.print(f"pending:  {', '.join(status.pending)}")


@migrate_app.command("check")
def migrate_check() -> None:
    """Fail if the models and the migrated schema differ (a migration is missing)."""
    from walletsync.db import migrate

    url = _migration_target()
    try:
        migrate.check(url)
    except Exception as exc:  # noqa: BLE001 - alembic raises its own error type with the diff
        err_console.print(f"error: schema and models differ: {exc}")
        raise typer.Exit(1) from None
    console.print("[green]schema matches models[/]")


def backup_command(
    file: Annotated[Path, typer.Argument(help="Where to write the backup (pg_dump custom format).")],
) -> None:
    """Back up the walletsync database (DATABASE_URL or the embedded one) to FILE with pg_dump."""
    from walletsync.db.backup import backup
    from walletsync.runtime import prepare_database

    settings = load()
    target = prepare_database(settings, auto_migrate=False)
    # DATABASE_DIRECT_URL when set: pg_dump/pg_restore need a session, not PgBouncer's transaction pooling.
    result = backup(target.migration_url, file, console=console)
    console.print(
        f"backed up {target.describe(settings)} (revision {result.revision or 'none'}) to {result.path}: "
        f"{result.size_bytes / 1e6:.1f} MB in {result.seconds:.1f} s with {result.tool.describe()}",
        highlight=False,
        soft_wrap=True,
    )


def restore_command(
    file: Annotated[Path, typer.Argument(help="A file made by `walletsync backup`.")],
    force: Annotated[
        bool, typer.Option("--force", help="Restore even while walletsync processes are connected.")
    ] = False,
) -> None:
    """Replace the database's content with FILE (pg_restore), then migrate it to the newest revision."""
    from walletsync.db.backup_archive import inspect_archive
    from walletsync.db.restore import restore
    from walletsync.preflight import check_redis
    from walletsync.runtime import prepare_database

    settings = load()
    inspect_archive(file)  # a bad file fails before the embedded server starts
    target = prepare_database(settings, auto_migrate=False)
    check_redis(settings)  # the restore empties the cache there
    result = restore(settings, target.migration_url, file, force=force, console=console)
    if result.forced_past:
        console.print(f"[yellow]restored while connected: {', '.join(result.forced_past)}[/]")
    console.print(
        f"restored {result.path} (revision {result.backup_revision}) into {target.describe(settings)} "
        f"in {result.seconds:.1f} s with {result.tool.describe()}; now at revision {result.revision}; "
        f"{result.cache}",
        highlight=False,
        soft_wrap=True,
    )
