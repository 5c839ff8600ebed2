"""The price sync job body: catalogs, instruments, asset links and incremental candles, within budget.

`sync_prices` is what the `sync_prices` Procrastinate task, `walletsync prices sync` and the demo call.
Order of work: catalogs (when due: once per UTC day, or when a wanted symbol has no instrument yet),
then the asset links, then for each symbol and interval
(stalest first, so a tight budget still reaches every series over the days) the bars from the last
stored one (inclusive, so a bar still forming is completed), paging forward 5000
bars per request; a series with no stored bar starts with the latest bars covering
`WALLETSYNC_PRICE_HISTORY_DAYS` (at most 5000). A symbol missing from the catalogs gets a minimal instrument
row with its first bars (a mistyped one gets none), and is linked at the end of the run.

Credits: every request reserves one credit of the day's budget first (`CreditBudget`); when the
budget is used up the sync stops cleanly and says when it resumes (the next UTC day) — that is not
an error. Provider errors are: a bad symbol (400) is recorded and the other symbols go on; the
provider's own "out of credits for the day" marks the day's budget used up and stops; a rate limit
that outlasted the client's retries, or a rejected API key, stops too. Whatever failed, everything
else is stored, and the function then raises `PriceSyncError` carrying the report, so a job shows a
clear message instead of a traceback.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any, Protocol, TypeVar

import structlog
from prometheus_client import Counter

from walletsync.config import Settings
from walletsync.db.engine import Database
from walletsync.market.budget import Clock, CreditBudget, utc_now
from walletsync.market.candles import ensure_instrument, find_instrument, last_bar_ts, store_candles
from walletsync.market.catalog import UpsertCounts, upsert_exchanges, upsert_instruments
from walletsync.market.errors import CreditBudgetExhaustedError, PriceSyncError
from walletsync.market.intervals import Interval, parse_interval
from walletsync.market.links import ensure_native_assets, link_assets, price_rules, sync_symbols
from walletsync.market.zones import exchange_timezone, record_timezone
from walletsync.providers.errors import (
    ProviderAuthError,
    ProviderError,
    QuotaExceededError,
    RateLimitedError,
)
from walletsync.providers.types import Candle, ExchangeInfo, InstrumentInfo

log = structlog.get_logger(__name__)

T = TypeVar("T")

MAX_OUTPUTSIZE = 5000

CANDLES_WRITTEN = Counter(
    "walletsync_market_candles_written_total", "Candles inserted or updated by price syncs", ["interval"]
)
CREDITS_SPENT = Counter("walletsync_market_credits_spent_total", "Market data provider credits reserved")
SYNC_ERRORS = Counter("walletsync_market_sync_errors_total", "Failed market data requests", ["kind"])


class MarketDataSource(Protocol):
    """What the sync needs from the market data adapter (`providers.twelvedata.TwelveDataAdapter`)."""

    async def exchanges(self) -> list[ExchangeInfo]: ...

    async def crypto_exchanges(self) -> list[ExchangeInfo]: ...

    async def cryptocurrencies(self, *, currency_quote: str | None = None) -> list[InstrumentInfo]: ...

    async def stocks(
        self, *, exchange: str | None = None, country: str | None = None
    ) -> list[InstrumentInfo]: ...

    async def time_series(
        self,
        symbol: str,
        interval: str,
        *,
        start: date | None = None,
        end: date | None = None,
        outputsize: int = MAX_OUTPUTSIZE,
        exchange_timezone: str | None = None,
    ) -> list[Candle]: ...


class SyncProgress(Protocol):
    """Progress sink (the CLI's progress bar): `start` once with the step count, `advance` per step."""

    def start(self, total: int) -> None: ...

    def advance(self, label: str) -> None: ...


@dataclass(frozen=True, slots=True)
class SyncFailure:
    scope: str  # "SOL/USD 1h", "catalog /stocks NASDAQ"
    kind: str  # the error class, e.g. "UpstreamBadRequestError"
    message: str


@dataclass(slots=True)
class SeriesResult:
    symbol: str
    interval: str
    requests: int = 0
    written: int = 0
    last_ts: datetime | None = None


@dataclass(slots=True)
class PriceSyncReport:
    started_at: datetime
    finished_at: datetime | None = None
    credits_used: int = 0
    credits_remaining: int | None = None
    catalogs: dict[str, UpsertCounts] = field(default_factory=dict)
    links_changed: int = 0
    series: list[SeriesResult] = field(default_factory=list)
    errors: list[SyncFailure] = field(default_factory=list)
    stopped: str | None = None  # why the run ended early without an error (the daily budget)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def candles_written(self) -> int:
        return sum(s.written for s in self.series)

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-able data (job results, logs)."""

        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value is not None else None

        return {
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "credits_used": self.credits_used,
            "credits_remaining": self.credits_remaining,
            "catalogs": {
                scope: {"inserted": c.inserted, "updated": c.updated, "unchanged": c.unchanged}
                for scope, c in self.catalogs.items()
            },
            "links_changed": self.links_changed,
            "candles_written": self.candles_written,
            "series": [
                {
                    "symbol": s.symbol,
                    "interval": s.interval,
                    "requests": s.requests,
                    "written": s.written,
                    "last_ts": iso(s.last_ts),
                }
                for s in self.series
            ],
            "errors": [{"scope": e.scope, "kind": e.kind, "message": e.message} for e in self.errors],
            "stopped": self.stopped,
        }


class _Stop(Exception):
    """Internal: no further request can succeed in this run."""


class _Run:
    def __init__(
        self,
        db: Database,
        source: MarketDataSource,
        budget: CreditBudget,
        report: PriceSyncReport,
        progress: SyncProgress | None,
    ) -> None:
        self.db = db
        self.source = source
        self.budget = budget
        self.report = report
        self.progress = progress

    def step(self, label: str) -> None:
        if self.progress is not None:
            self.progress.advance(label)

    async def request(self, scope: str, call: Callable[[], Awaitable[T]]) -> T | None:
        """One paid request: reserve a credit, call, classify failure (None: failed, go on)."""
        try:
            usage = await self.budget.spend(1)
        except CreditBudgetExhaustedError as exc:
            self.report.stopped = exc.detail
            log.warning("market.sync.budget_exhausted", scope=scope, resets_at=exc.resets_at.isoformat())
            raise _Stop from exc
        self.report.credits_used += 1
        self.report.credits_remaining = usage.remaining
        CREDITS_SPENT.inc()
        try:
            return await call()
        except ProviderError as exc:
            kind = type(exc).__name__
            SYNC_ERRORS.labels(kind=kind).inc()
            self.report.errors.append(SyncFailure(scope, kind, exc.detail))
            log.warning("market.sync.request_failed", scope=scope, kind=kind, error=exc.detail)
            if isinstance(exc, QuotaExceededError):
                usage = await self.budget.exhaust()
                self.report.credits_remaining = 0
                self.report.stopped = f"the provider reports its daily credits used up; resumes after {usage.resets_at.isoformat()}"
                raise _Stop from exc
            if isinstance(exc, (RateLimitedError, ProviderAuthError)):
                raise _Stop from exc
            return None

    async def catalogs(self, settings: Settings) -> None:
        source = self.source
        exchange_calls: list[tuple[str, Callable[[], Awaitable[list[ExchangeInfo]]]]] = [
            ("catalog /exchanges", source.exchanges),
            ("catalog /cryptocurrency_exchanges", source.crypto_exchanges),
        ]
        instrument_calls: Sequence[tuple[str, Callable[[], Awaitable[list[InstrumentInfo]]]]] = [
            (f"catalog /cryptocurrencies {q}", partial(source.cryptocurrencies, currency_quote=q))
            for q in _upper(settings.price_crypto_quotes)
        ] + [
            (f"catalog /stocks {ex}", partial(source.stocks, exchange=ex))
            for ex in _upper(settings.price_stock_exchanges)
        ]
        complete = True
        for scope, fetch_exchanges in exchange_calls:
            found = await self.request(scope, fetch_exchanges)
            if found is None:
                complete = False
            else:
                async with self.db.write() as conn:
                    self.report.catalogs[scope] = await upsert_exchanges(conn, found)
            self.step(scope)
        for scope, fetch_instruments in instrument_calls:
            listed = await self.request(scope, fetch_instruments)
            if listed is None:
                complete = False
            else:
                async with self.db.write() as conn:
                    self.report.catalogs[scope] = await upsert_instruments(conn, listed)
            self.step(scope)
        if complete:
            await self.budget.mark_catalogs_refreshed()

    async def series(self, symbol: str, interval: Interval, history_days: int, page_size: int) -> None:
        result = SeriesResult(symbol, interval.name)
        self.report.series.append(result)
        async with self.db.read() as conn:
            instrument = await find_instrument(conn, symbol)
            cursor = await last_bar_ts(conn, instrument.id, interval.name) if instrument else None
            zone = await exchange_timezone(conn, instrument.id) if instrument else None
        scope = f"{symbol} {interval.name}"
        # Bounds are read in the exchange's local time: pass its zone (None: UTC, right for crypto).
        fetch = partial(self.source.time_series, symbol, interval.name, exchange_timezone=zone)
        if cursor is not None and zone is None and instrument is not None and instrument.kind != "crypto":
            # A stock whose zone is not known yet: start a day early so no offset can skip a bar
            # (the overlap is stored idempotently); the response's zone is recorded for next time.
            cursor -= timedelta(days=1)
        if cursor is None:
            # First run: the latest bars covering WALLETSYNC_PRICE_HISTORY_DAYS, capped at one page. Asking for
            # the latest bars (rather than "from N days ago") works against any clock, the simulator's too.
            wanted = min(page_size, max(1, math.ceil(history_days * 86_400 / interval.seconds)))
            page = await self.request(scope, partial(fetch, outputsize=wanted))
            if page is None:
                return
            await self._store(result, symbol, interval, page, zone)
            return
        end: datetime | None = None
        while True:
            # From the last stored bar, inclusive: a bar that was still forming gets its final values.
            # Twelve Data answers with the LATEST `page_size` bars of [start, end), so a full page that
            # begins after the cursor leaves older bars unread: page backwards (end = its first bar).
            page = await self.request(scope, partial(fetch, start=cursor, end=end, outputsize=page_size))
            if page is None:
                return
            await self._store(result, symbol, interval, page, zone)
            if len(page) < page_size or page[0].ts <= cursor:
                return
            end = page[0].ts

    async def _store(
        self,
        result: SeriesResult,
        symbol: str,
        interval: Interval,
        page: list[Candle],
        known_zone: str | None,
    ) -> None:
        result.requests += 1
        if not page:
            return
        async with self.db.write() as conn:
            # Created on the first bars, not before: a mistyped symbol leaves no instrument behind.
            instrument = await ensure_instrument(conn, symbol)
            written = await store_candles(conn, instrument.id, page)
            # Recorded only when not already known (e.g. from the exchanges catalog): nothing to write.
            zone = getattr(page, "exchange_timezone", None)
            if zone and zone != known_zone:
                await record_timezone(conn, instrument.id, zone)
        result.written += written
        result.last_ts = max(page[-1].ts, result.last_ts) if result.last_ts else page[-1].ts
        CANDLES_WRITTEN.labels(interval=interval.name).inc(written)


async def _stalest_first(
    db: Database, symbols: Sequence[str], intervals: Sequence[Interval]
) -> list[tuple[str, Interval]]:
    """Series never synced first, then by oldest last bar: a tight budget still reaches every series."""
    keyed: list[tuple[bool, datetime | None, int, str, Interval]] = []
    async with db.read() as conn:
        for order, (symbol, interval) in enumerate((s, i) for s in symbols for i in intervals):
            instrument = await find_instrument(conn, symbol)
            last = await last_bar_ts(conn, instrument.id, interval.name) if instrument else None
            keyed.append((last is not None, last, order, symbol, interval))
    keyed.sort(key=lambda k: (k[0], k[1] or datetime.min.replace(tzinfo=UTC), k[2]))
    return [(symbol, interval) for _, _, _, symbol, interval in keyed]


def _upper(values: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(v.strip().upper() for v in values if v.strip()))


async def sync_prices(
    db: Database,
    source: MarketDataSource,
    settings: Settings,
    *,
    budget: CreditBudget | None = None,
    clock: Clock = utc_now,
    catalogs: bool | None = None,
    symbols: Sequence[str] | None = None,
    intervals: Sequence[str] | None = None,
    progress: SyncProgress | None = None,
    page_size: int = MAX_OUTPUTSIZE,
) -> PriceSyncReport:
    """Ingest catalogs (when due, or as `catalogs` says), link assets, and bring candles up to date.

    Returns the report; raises `PriceSyncError` (with `.report`) when any request failed, after
    storing everything that succeeded. Stopping on the daily budget is not an error (`report.stopped`).
    `page_size` is bars per request (Twelve Data's maximum, 5000, unless a test pages smaller).
    """
    wanted = list(dict.fromkeys(s.strip().upper() for s in symbols)) if symbols else sync_symbols(settings)
    bar_intervals = [parse_interval(name) for name in (intervals or settings.price_intervals)]
    rules = price_rules(settings)
    budget = budget or CreditBudget(db, limit=settings.twelvedata_daily_credits, clock=clock)
    now = clock()
    report = PriceSyncReport(started_at=now)
    run = _Run(db, source, budget, report, progress)

    if catalogs is None:
        async with db.read() as conn:
            missing = [s for s in wanted if await find_instrument(conn, s) is None]
        catalogs = bool(missing) or not await budget.catalogs_refreshed_today()
    catalog_steps = (
        2 + len(_upper(settings.price_crypto_quotes)) + len(_upper(settings.price_stock_exchanges))
    )
    if progress is not None:
        progress.start((catalog_steps if catalogs else 0) + len(wanted) * len(bar_intervals))
    log.info(
        "market.sync.started",
        symbols=len(wanted),
        intervals=[i.name for i in bar_intervals],
        catalogs=catalogs,
    )
    try:
        if catalogs:
            await run.catalogs(settings)
        async with db.write() as conn:
            await ensure_native_assets(conn)
            report.links_changed = await link_assets(conn, rules)
        for symbol, interval in await _stalest_first(db, wanted, bar_intervals):
            await run.series(symbol, interval, settings.price_history_days, page_size)
            run.step(f"{symbol} {interval.name}")
    except _Stop:
        pass
    finally:
        # Instruments first stored by this run (a symbol the catalogs did not list) get linked too.
        async with db.write() as conn:
            report.links_changed += await link_assets(conn, rules)
    report.finished_at = clock()
    log.info(
        "market.sync.finished",
        credits_used=report.credits_used,
        candles_written=report.candles_written,
        errors=len(report.errors),
        stopped=report.stopped,
    )
    if report.errors:
        raise PriceSyncError(report)
    return report
