"""Webhook commands: `webhooks add|list|remove|rotate-secret|enable|disable|test|deliveries|redeliver`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from walletsync.cli.common import command_group, console, database_url, err_console, load, run_async, with_db

if TYPE_CHECKING:
    from walletsync.db.engine import Database

webhooks_app = command_group("Register receivers of signed events (Standard Webhooks) and inspect deliveries.")


@webhooks_app.command("add")
def webhooks_add(
    url: Annotated[str, typer.Argument(help="Where events are POSTed (http:// or https://).")],
    topic: Annotated[
        list[str] | None,
        typer.Option(
            help="An event type to receive (repeatable; all when omitted): tx.indexed, "
            "tx.rolled_back, balance.changed, sync.completed, sync.failed."
        ),
    ] = None,
    wallet: Annotated[
        list[int] | None, typer.Option(help="Only this wallet id's events (repeatable).")
    ] = None,
    group: Annotated[str | None, typer.Option(help="Only events of wallets in this group.")] = None,
    description: Annotated[str | None, typer.Option(help="A note for operators.")] = None,
    replay: Annotated[
        bool,
        typer.Option("--replay", help="Also deliver the matching events already published (in retention)."),
    ] = False,
    batch: Annotated[
        int,
        typer.Option(
            "--batch",
            min=1,
            max=100,
            help="Events of one wallet per signed request (1: one event per request; more: a "
            "batch envelope, docs/events.md).",
        ),
    ] = 1,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the secret.")] = False,
) -> None:
    """Register a webhook; its signing secret is printed once."""
    from walletsync.events import registry
    from walletsync.events.ssrf import check_target

    settings = load()
    url_db = database_url(settings)

    async def body(db: Database) -> Any:
        await check_target(url, allow_private=settings.webhook_allow_private)
        async with db.write() as conn:
            return await registry.create_webhook(
                conn,
                url=url,
                topics=topic,
                wallet_ids=wallet,
                group=group,
                description=description,
                replay=replay,
                batch_size=batch,
            )

    created = run_async(with_db(settings, url_db, body))
    if quiet:
        typer.echo(created.secret)
        return
    hook = created.webhook
    batching = f", up to {hook.batch_size} events per request" if hook.batch_size > 1 else ""
    console.print(f"webhook {hook.id} -> {hook.url} ({', '.join(hook.topics)}{batching})", highlight=False)
    console.print(f"signing secret: {created.secret}", highlight=False, soft_wrap=True)
    console.print("[yellow]Store it now: it cannot be shown again.[/]")


@webhooks_app.command("list")
def webhooks_list() -> None:
    """List webhooks (never their secrets)."""
    from walletsync.events import registry

    settings = load()
    url = database_url(settings)

    async def body(db: Database) -> Any:
        async with db.read() as conn:
            return await registry.list_webhooks(conn)

    hooks = run_async(with_db(settings, url, body))
    table = Table(title=f"{len(hooks)} webhook(s)")
    for column in ("id", "url", "topics", "filter", "batch", "active", "note"):
        table.add_column(column)
    for hook in hooks:
        scope = []
        if hook.wallet_ids:
            scope.append("wallets " + ",".join(map(str, hook.wallet_ids)))
        if hook.group:
            scope.append(f"group {hook.group}")
        table.add_row(
            str(hook.id),
            hook.url,
            ", ".join(hook.topics),
            "; ".join(scope) or "all wallets",
            str(hook.batch_size),
            "yes" if hook.active else "no",
            hook.disabled_reason or hook.description or "",
        )
    console.print(table)


def _simple(action: str, webhook_id: int) -> Any:
    from walletsync.events import registry

    settings = load()
    url = database_url(settings)

    async def body(db: Database) -> Any:
        async with db.write() as conn:
            if action == "remove":
                return await registry.delete_webhook(conn, webhook_id)
            if action == "rotate":
                return await registry.rotate_secret(conn, webhook_id, now=datetime.now(UTC))
            return await registry.set_active(
                conn, webhook_id, active=action == "enable", reason="disabled by an operator (CLI)"
            )

    return run_async(with_db(settings, url, body))


@webhooks_app.command("remove")
def webhooks_remove(webhook_id: Annotated[int, typer.Argument(help="The webhook's id.")]) -> None:
    """Remove a webhook and its delivery log."""
    _simple("remove", webhook_id)
    console.print(f"webhook {webhook_id} removed")


@webhooks_app.command("rotate-secret")
def webhooks_rotate(webhook_id: Annotated[int, typer.Argument(help="The webhook's id.")]) -> None:
    """A new signing secret (printed once); the old one also signs for 24 hours."""
    rotated = _simple("rotate", webhook_id)
    until = rotated.webhook.previous_secret_expires_at
    console.print(f"new signing secret: {rotated.secret}", highlight=False, soft_wrap=True)
    console.print(f"the previous secret also signs until {until.isoformat(timespec='seconds')}")


@webhooks_app.command("enable")
def webhooks_enable(webhook_id: Annotated[int, typer.Argument(help="The webhook's id.")]) -> None:
    """Switch a webhook back on (e.g. after its receiver answered 410); then `redeliver` if needed."""
    _simple("enable", webhook_id)
    console.print(f"webhook {webhook_id} enabled")


@webhooks_app.command("disable")
def webhooks_disable(webhook_id: Annotated[int, typer.Argument(help="The webhook's id.")]) -> None:
    """Switch a webhook off; its pending deliveries end as dead (redeliverable)."""
    _simple("disable", webhook_id)
    console.print(f"webhook {webhook_id} disabled")


@webhooks_app.command("test")
def webhooks_test(webhook_id: Annotated[int, typer.Argument(help="The webhook's id.")]) -> None:
    """Send a signed `webhook.test` event now; exit 1 unless the receiver answered 2xx."""
    from walletsync.events import delivery, registry

    settings = load()
    url = database_url(settings)

    async def body(db: Database) -> Any:
        async with db.read() as conn:
            hook = await registry.get_webhook(conn, webhook_id)
            keys = await registry.signing_keys(conn, webhook_id, now=datetime.now(UTC))
        return hook, await delivery.send_test(hook.url, keys, settings, webhook_id=webhook_id)

    hook, result = run_async(with_db(settings, url, body))
    if result.ok:
        console.print(f"delivered to {hook.url}: HTTP {result.status} in {result.seconds * 1000:.0f} ms")
        return
    err_console.print(f"error: {hook.url} did not accept the test event: {result.error}", highlight=False)
    raise typer.Exit(1)


@webhooks_app.command("deliveries")
def webhooks_deliveries(
    webhook_id: Annotated[int, typer.Argument(help="The webhook's id.")],
    status: Annotated[str | None, typer.Option(help="pending, delivered or dead.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
) -> None:
    """The webhook's latest deliveries: status, attempts, last answer, next attempt."""
    from walletsync.events import registry

    settings = load()
    url = database_url(settings)

    async def body(db: Database) -> Any:
        async with db.read() as conn:
            return await registry.list_deliveries(conn, webhook_id, status=status, limit=limit)

    rows = run_async(with_db(settings, url, body))
    table = Table(title=f"webhook {webhook_id}: {len(rows)} latest deliveries")
    for column in ("id", "event", "wallet", "status", "attempts", "last answer", "next attempt"):
        table.add_column(column)
    for d in rows:
        answer = f"HTTP {d.last_status}" if d.last_status else ""
        if d.last_error and d.status != "delivered":
            answer = d.last_error[:80]
        table.add_row(
            str(d.id),
            str(d.event_id),
            str(d.wallet_id),
            d.status,
            str(d.attempts),
            answer,
            d.next_attempt_at.isoformat(timespec="seconds") if d.next_attempt_at else "",
        )
    console.print(table)


@webhooks_app.command("redeliver")
def webhooks_redeliver(
    webhook_id: Annotated[int, typer.Argument(help="The webhook's id.")],
    delivery: Annotated[list[int] | None, typer.Option(help="Only this dead delivery (repeatable).")] = None,
) -> None:
    """Queue dead deliveries again (all of the webhook's when no --delivery is given)."""
    from walletsync.events import registry

    settings = load()
    url = database_url(settings)

    async def body(db: Database) -> Any:
        async with db.write() as conn:
            return await registry.redeliver(conn, webhook_id, now=datetime.now(UTC), delivery_ids=delivery)

    queued = run_async(with_db(settings, url, body))
    console.print(f"{queued} dead deliver{'y' if queued == 1 else 'ies'} queued again")
