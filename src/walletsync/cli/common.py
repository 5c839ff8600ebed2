"""Helpers every command module shares: the consoles, settings loading, the database, the event loop.

Command bodies import the heavy packages (settings, database, providers, API) inside the function,
so that `walletsync --help` and `walletsync version` start without importing them (a test pins what
`version` imports: tests/unit/test_cli_imports.py).
"""

from __future__ import annotations

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

YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation (for scripts).")]

ChainOption = Annotated[Chain, typer.Option("--chain", "-c", help="solana or cardano.")]
OptionalChain = Annotated[
    Chain | None, typer.Option("--chain", "-c", help="Narrow to one chain when the address is ambiguous.")
]


_service = False


def command_group(help: str) -> typer.Typer:
    """A `walletsync <group>` sub-app: bare, it prints its help; help is click's plain form
    (`rich_markup_mode=None`, as on the root app: typer's rich help doubled `--help`'s start-up)."""
    return typer.Typer(rich_markup_mode=None, help=help, no_args_is_help=True)


def is_service() -> bool:
    """True once a long-running command (serve, api, worker, demo) has started."""
    return _service


def load(*, interactive: bool = True, service: bool = False) -> Settings:
    """Settings for this command, with logging configured from them.

    Interactive commands print for a person, so their logs start at WARNING unless DEBUG is asked for;
    long-running services (serve, worker, api) log at the configured level. `service=True` marks a
    command whose normal end is SIGTERM (it then exits 0 after stopping cleanly).
    """
    global _service
    _service = service or not interactive
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


def confirm(question: str, *, yes: bool) -> None:
    """Ask before something destructive; `--yes` skips it. Without a terminal to ask on, refuse.

    A script that meant it says `--yes`; one that did not (stdin not a terminal) must not proceed.
    """
    import sys

    from walletsync.errors import InvalidInputError

    if yes:
        return
    if not sys.stdin.isatty():
        raise InvalidInputError(f"{question} Not confirmed (no terminal): pass --yes")
    if not typer.confirm(question, default=False, err=True):
        err_console.print("aborted: nothing changed")
        raise typer.Exit(1)


def database_url(settings: Settings, *, redis: bool = False) -> str:
    """The database URL for an ordinary command (the embedded server started and migrated if need be).

    `redis=True` for commands that use Redis (cache, shared rate limits): an unreachable `REDIS_URL`
    fails here, at start, with one line. A Redis lost later only degrades (the cache's breaker).
    """
    from walletsync.preflight import check_redis
    from walletsync.runtime import prepare_database

    url = prepare_database(settings).url
    if redis:
        check_redis(settings)
    return url


async def with_db(settings: Settings, url: str, body: Callable[[Database], Awaitable[T]]) -> T:
    """Run `body` with a `Database` opened for one CLI command, disposed after."""
    from walletsync.db.engine import Database

    db = Database.from_settings(url, settings, application_name="walletsync-cli")
    try:
        return await body(db)
    finally:
        await db.dispose()


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion (commands are sync; the work is async); SIGTERM cancels it."""
    from walletsync.signals import run_until_signalled

    return run_until_signalled(coro)
