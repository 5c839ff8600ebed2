"""Helpers every command module shares: the consoles, settings loading, the database, the event loop.

Command bodies import the heavy packages (settings, database, providers, API) inside the function,
so that `walletsync --help` and `walletsync version` start without importing them (a test pins what
`version` imports: tests/unit/test_cli_imports.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console

from walletsync.chain import Chain

if TYPE_CHECKING:
    from walletsync.config import Settings
    from walletsync.db.engine import Database

T = TypeVar("T")

console = Console()
err_console = Console(stderr=True)

ChainOption = Annotated[Chain, typer.Option("--chain", "-c", help="solana or cardano.")]
OptionalChain = Annotated[
    Chain | None, typer.Option("--chain", "-c", help="Narrow to one chain when the address is ambiguous.")
]


def load(*, interactive: bool = True) -> Settings:
    """Settings for this command, with logging configured from them.

    Interactive commands print for a person, so their logs start at WARNING unless DEBUG is asked for;
    long-running services (serve, worker, api) log at the configured level.
    """
    from walletsync.config import get_settings
    from walletsync.logs import configure_logging

    settings = get_settings()
    level = settings.log_level
    if interactive and level in ("INFO",):
        level = "WARNING"
    configure_logging(level, settings.log_format)
    warn_legacy_names()
    return settings


def warn_legacy_names() -> None:
    """One stderr line when a setting is still spelled without its WALLETSYNC_ prefix (it is ignored)."""
    from walletsync.config import legacy_names_set

    legacy = legacy_names_set()
    if legacy:
        renames = ", ".join(f"{name} -> WALLETSYNC_{name}" for name in legacy)
        err_console.print(
            f"warning: ignoring unprefixed setting(s); rename {renames}", highlight=False, soft_wrap=True
        )


def database_url(settings: Settings) -> str:
    """The database URL for an ordinary command (the embedded server started and migrated if need be)."""
    from walletsync.runtime import prepare_database

    return prepare_database(settings).url


async def with_db(settings: Settings, url: str, body: Callable[[Database], Awaitable[T]]) -> T:
    """Run `body` with a `Database` opened for one CLI command, disposed after."""
    from walletsync.db.engine import Database

    db = Database.from_settings(url, settings, application_name="walletsync-cli")
    try:
        return await body(db)
    finally:
        await db.dispose()


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion (commands are sync; the work is async)."""
    return asyncio.run(coro)
