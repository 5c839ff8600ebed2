"""What `walletsync prices sync` and `walletsync prices show` do, and the rich tables they print.

The command functions in `cli/` stay thin: they call these and print the returned tables.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from walletsync.config import Settings
from walletsync.db.engine import Database
from walletsync.errors import ConfigError
from walletsync.market.budget import CreditBudget
from walletsync.market.candles import Bar, Instrument, bars, daily_closes, get_instrument
from walletsync.market.intervals import parse_interval
from walletsync.market.sync import PriceSyncReport, sync_prices


class _ProgressBar:
    """`SyncProgress` on a rich progress bar."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._task = progress.add_task("prices", total=None)

    def start(self, total: int) -> None:
        self._progress.update(self._task, total=total)

    def advance(self, label: str) -> None:
        self._progress.update(self._task, advance=1, description=label)


@contextmanager
def progress_bar(console: Console) -> Iterator[_ProgressBar]:
    columns = (TextColumn("{task.description:<36}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        yield _ProgressBar(progress)


async def run_price_sync(
    settings: Settings, url: str, *, console: Console, catalogs: bool | None = None
) -> PriceSyncReport:
    """Open the services, sync prices with a progress bar; `PriceSyncError` carries the report."""
    from walletsync.services import open_services

    async with open_services(settings, url, application_name="walletsync-prices") as services:
        if services.twelvedata is None:
            raise ConfigError(
                "no Twelve Data endpoint configured: set TWELVEDATA_URLS (and WALLETSYNC_TWELVEDATA_API_KEY), "
                "or point it at `walletsync simulator`"
            )
        with progress_bar(console) as progress:
            return await sync_prices(
                services.db, services.twelvedata, settings, catalogs=catalogs, progress=progress
            )


def report_table(report: PriceSyncReport) -> Table:
    table = Table(title="price sync")
    table.add_column("series")
    table.add_column("requests", justify="right")
    table.add_column("bars written", justify="right")
    table.add_column("latest bar (UTC)")
    for scope, counts in report.catalogs.items():
        table.add_row(
            scope.removeprefix("catalog "),
            "1",
            f"{counts.inserted} new, {counts.updated} changed",
            f"{counts.unchanged} unchanged",
        )
    for series in report.series:
        latest = series.last_ts.strftime("%Y-%m-%d %H:%M") if series.last_ts else "-"
        table.add_row(f"{series.symbol} {series.interval}", str(series.requests), str(series.written), latest)
    for error in report.errors:
        table.add_row(f"[red]{error.scope}[/]", "", "[red]failed[/]", error.message)
    remaining = "?" if report.credits_remaining is None else str(report.credits_remaining)
    table.caption = f"{report.credits_used} credit(s) used, {remaining} left today"
    if report.stopped:
        table.caption += f"; stopped: {report.stopped}"
    return table


async def credit_usage(settings: Settings, db: Database) -> str:
    usage = await CreditBudget(db, limit=settings.twelvedata_daily_credits).usage()
    return f"{usage.used} of {usage.limit} credits used on {usage.day.isoformat()} (UTC)"


async def load_bars(db: Database, symbol: str, *, interval: str, limit: int) -> tuple[Instrument, list[Bar]]:
    """The latest `limit` bars of `symbol`, oldest first."""
    parse_interval(interval)
    async with db.read() as conn:
        instrument = await get_instrument(conn, symbol)
        return instrument, await bars(conn, instrument.id, interval, limit=limit)


async def load_daily_closes(
    db: Database, symbol: str, *, limit: int
) -> tuple[Instrument, list[tuple[datetime, Decimal]]]:
    """The last `limit` daily closes of `symbol` from `candles_daily_close`."""
    async with db.read() as conn:
        instrument = await get_instrument(conn, symbol)
        return instrument, (await daily_closes(conn, instrument.id))[-limit:]


def bars_table(instrument: Instrument, rows: list[Bar], interval: str) -> Table:
    title = f"{instrument.symbol} {interval}" + (f" ({instrument.name})" if instrument.name else "")
    table = Table(title=title)
    for name in ("bar start (UTC)", "open", "high", "low", "close", "volume"):
        table.add_column(name, justify="left" if name.startswith("bar") else "right")
    for bar in rows:
        table.add_row(
            bar.ts.strftime("%Y-%m-%d %H:%M"),
            str(bar.open),
            str(bar.high),
            str(bar.low),
            str(bar.close),
            str(bar.volume) if bar.volume is not None else "",
        )
    if not rows:
        table.add_row("(no bars stored: run `walletsync prices sync`)", "", "", "", "", "")
    return table


def daily_table(instrument: Instrument, rows: list[tuple[datetime, Decimal]]) -> Table:
    table = Table(title=f"{instrument.symbol} daily closes (last hourly close of each UTC day)")
    table.add_column("day (UTC)")
    table.add_column("close", justify="right")
    for day, close in rows:
        table.add_row(day.strftime("%Y-%m-%d"), str(close))
    return table
