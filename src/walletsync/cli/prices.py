"""Market data commands: `prices sync|show`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from walletsync.cli.common import command_group, console, database_url, load, run_async, with_db

if TYPE_CHECKING:
    from walletsync.db.engine import Database

prices_app = command_group("Market data: sync prices from Twelve Data, show stored bars.")


@prices_app.command("sync")
def prices_sync(
    catalogs: Annotated[
        bool | None,
        typer.Option(
            "--catalogs/--no-catalogs", help="Refresh exchange and instrument catalogs (default: when due)."
        ),
    ] = None,
) -> None:
    """Ingest catalogs and bring WALLETSYNC_PRICE_SYMBOLS' candles up to date, within the daily credit budget."""
    from walletsync.market.console import report_table, run_price_sync
    from walletsync.market.errors import PriceSyncError

    settings = load()
    url = database_url(settings, redis=True)
    try:
        report = run_async(run_price_sync(settings, url, console=console, catalogs=catalogs))
    except PriceSyncError as exc:
        console.print(report_table(exc.report))
        raise
    console.print(report_table(report))


@prices_app.command("show")
def prices_show(
    symbol: Annotated[str, typer.Argument(help="An instrument, e.g. SOL/USD.")],
    interval: Annotated[str, typer.Option(help="Bar interval (1h, 1day, ...).")] = "1h",
    limit: Annotated[int, typer.Option(min=1, max=5000, help="How many of the latest bars.")] = 24,
    daily: Annotated[
        bool, typer.Option("--daily", help="Daily closes from candles_daily_close instead.")
    ] = False,
) -> None:
    """Print the latest stored bars of SYMBOL (oldest first), and today's credit usage."""
    from walletsync.market.console import bars_table, credit_usage, daily_table, load_bars, load_daily_closes

    settings = load()
    url = database_url(settings)

    async def body(db: Database) -> None:
        if daily:
            instrument, closes = await load_daily_closes(db, symbol, limit=limit)
            console.print(daily_table(instrument, closes))
        else:
            instrument, rows = await load_bars(db, symbol, interval=interval, limit=limit)
            console.print(bars_table(instrument, rows, interval))
        console.print(await credit_usage(settings, db), style="dim")

    run_async(with_db(settings, url, body))
