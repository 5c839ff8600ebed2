"""API key commands: `apikeys create|list|revoke`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from walletsync.cli.common import command_group, console, database_url, load, run_async, with_db

if TYPE_CHECKING:
    from walletsync.db.engine import Database

apikeys_app = command_group("Create, list and revoke API keys.")


@apikeys_app.command("create")
def apikeys_create(
    name: Annotated[str, typer.Argument(help="Who or what the key is for.")],
    scope: Annotated[str, typer.Option(help="read, write (implies read) or admin (implies both).")] = "read",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the key.")] = False,
) -> None:
    """Create an API key. The key is printed once and stored only as a hash."""
    from walletsync.api.keys import create_key

    settings = load()
    url = database_url(settings)

    async def body(db: Database) -> Any:
        async with db.write() as conn:
            return await create_key(conn, name=name, scope=scope)

    created = run_async(with_db(settings, url, body))
    if quiet:
        typer.echo(created.key)  # plain stdout for scripts: KEY=$(walletsync apikeys create NAME -q)
        return
    console.print(f"API key {created.info.id} ({created.info.name}, scope {created.info.scope.value}):")
    console.print(created.key, highlight=False, soft_wrap=True)
    console.print("[yellow]Store it now: it cannot be shown again.[/]")


@apikeys_app.command("list")
def apikeys_list() -> None:
    """List API keys (prefix, scope, created, revoked); never the keys themselves."""
    from walletsync.api.keys import list_keys

    settings = load()
    url = database_url(settings)

    async def body(db: Database) -> Any:
        async with db.read() as conn:
            return await list_keys(conn)

    keys = run_async(with_db(settings, url, body))
    table = Table(title=f"{len(keys)} API key(s)")
    for column in ("id", "name", "prefix", "scope", "created", "revoked"):
        table.add_column(column)
    for key in keys:
        table.add_row(
            str(key.id),
            key.name,
            key.key_prefix + "…",
            key.scope.value,
            key.created_at.isoformat(timespec="seconds"),
            key.revoked_at.isoformat(timespec="seconds") if key.revoked_at else "",
        )
    console.print(table)


@apikeys_app.command("revoke")
def apikeys_revoke(key_id: Annotated[int, typer.Argument(help="The key's id (see `apikeys list`).")]) -> None:
    """Revoke an API key (API processes stop accepting it within a few seconds)."""
    from walletsync.api.keys import MEMO_TTL_S, revoke_key

    settings = load()
    url = database_url(settings)

    async def body(db: Database) -> Any:
        async with db.write() as conn:
            return await revoke_key(conn, key_id)

    info = run_async(with_db(settings, url, body))
    console.print(
        f"API key {info.id} ({info.name}) revoked; running APIs refuse it within {MEMO_TTL_S:.0f} s"
    )
