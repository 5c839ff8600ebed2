"""The `walletsync` command (typer + rich): one thin function per command, logic in the packages.

Errors walletsync raises on purpose (`WalletsyncError`) print as one line on stderr and exit with
the error's `exit_code`; nothing prints a traceback unless `WALLETSYNC_LOG_LEVEL=DEBUG`.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from walletsync import __version__
from walletsync.config import Chain, Settings, get_settings
from walletsync.errors import WalletsyncError
from walletsync.logs import configure_logging

app = typer.Typer(
    name="walletsync",
    help="Self-hosted wallet indexer and portfolio API for Solana and Cardano.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
migrate_app = typer.Typer(help="Apply, revert and inspect database migrations.", no_args_is_help=True)
app.add_typer(migrate_app, name="migrate")

T = TypeVar("T")

console = Console()
err_console = Console(stderr=True)


def load(*, interactive: bool = True) -> Settings:
    """Settings for this command, with logging configured from them.

    Interactive commands print for a person, so their logs start at WARNING unless DEBUG is asked for;
    long-running services (serve, worker, api) log at the configured level.
    """
    settings = get_settings()
    level = settings.log_level
    if interactive and level in ("INFO",):
        level = "WARNING"
    configure_logging(level, settings.log_format)
    return settings


@app.command()
def version() -> None:
    """Print the walletsync version."""
    console.print(f"walletsync {__version__}")


@app.command()
def doctor() -> None:
    """Check the database, Redis and provider endpoints, and print a table of what works."""
    from walletsync.doctor import run_checks

    settings = load()
    results = run_checks(settings)
    table = Table(title="walletsync doctor")
    table.add_column("check")
    table.add_column("status")
    table.add_column("detail", overflow="fold")
    for result in results:
        mark = "[green]ok[/]" if result.ok else ("[yellow]skipped[/]" if result.skipped else "[red]FAIL[/]")
        table.add_row(result.name, mark, result.detail)
    console.print(table)
    if any(not r.ok and not r.skipped for r in results):
        raise typer.Exit(1)


@migrate_app.command("up")
def migrate_up(
    revision: Annotated[str, typer.Argument(help="Target revision (default: the newest).")] = "head",
) -> None:
    """Apply migrations up to REVISION. Running it twice is a no-op."""
    from walletsync.db import migrate
    from walletsync.runtime import prepare_database

    settings = load()
    target = prepare_database(settings, auto_migrate=False)
    console.print(f"database: {target.describe(settings)}")
    status = migrate.upgrade(target.url, revision)
    console.print(f"at revision {', '.join(status.current) or 'base'} (head {status.head})")


@migrate_app.command("down")
def migrate_down(
    revision: Annotated[str, typer.Argument(help="Target revision: an id, -1 (default) or base.")] = "-1",
) -> None:
    """Revert migrations down to REVISION (default: one step)."""
    from walletsync.db import migrate
    from walletsync.runtime import prepare_database

    settings = load()
    target = prepare_database(settings, auto_migrate=False)
    console.print(f"database: {target.describe(settings)}")
    status = migrate.downgrade(target.url, revision)
    console.print(f"at revision {', '.join(status.current) or 'base'} (head {status.head})")


@migrate_app.command("status")
def migrate_status() -> None:
    """Show the current revision and the pending ones."""
    from walletsync.db import migrate
    from walletsync.runtime import prepare_database

    settings = load()
    target = prepare_database(settings, auto_migrate=False)
    status = migrate.status(target.url)
    console.print(f"database: {target.describe(settings)}")
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
    from walletsync.runtime import prepare_database

    settings = load()
    target = prepare_database(settings, auto_migrate=False)
    try:
        migrate.check(target.url)
    except Exception as exc:  # noqa: BLE001 - alembic raises its own error type with the diff
        err_console.print(f"error: schema and models differ: {exc}")
        raise typer.Exit(1) from None
    console.print("[green]schema matches models[/]")


@app.command("inspect-tx")
def inspect_tx(
    chain: Annotated[Chain, typer.Option(help="Which provider's response the file holds.")],
    file: Annotated[Path, typer.Option(help="Raw response: Solana getTransaction, Cardano {tx, utxos}.")],
) -> None:
    """Normalize one raw provider response and print the transaction as JSON."""
    from walletsync.providers.inspect import inspect_file

    sys.stdout.write(json.dumps(inspect_file(chain, file), indent=2) + "\n")


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion (commands are sync; the work is async)."""
    return asyncio.run(coro)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except WalletsyncError as exc:
        err_console.print(f"error: {exc.detail}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
