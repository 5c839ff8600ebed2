"""An in-memory Twelve Data stand-in over the simulator's ground-truth series, with a movable "now".

It follows the adapter's contract (`TwelveDataAdapter`): with `start`, the first `outputsize` bars
from `start` in ascending order; without, the latest `outputsize`. Only bars that started at or
before `now` exist, and the newest one is still forming (its close is provisional) until `now`
passes its end, so tests see exactly what a live provider shows between runs.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta

from walletsync.market.intervals import parse_interval
from walletsync.providers.errors import ProviderError
from walletsync.providers.types import Candle, ExchangeInfo, InstrumentInfo
from walletsync.simulator.market import MarketData


@dataclass
class FakeTwelveData:
    now: datetime
    market: MarketData = field(default_factory=lambda: MarketData(seed=42))
    exchange_list: list[ExchangeInfo] = field(
        default_factory=lambda: [
            ExchangeInfo(
                kind="stock", name="NASDAQ", code="XNGS", country="United States", timezone="America/New_York"
            ),
            ExchangeInfo(
                kind="stock", name="NYSE", code="XNYS", country="United States", timezone="America/New_York"
            ),
        ]
    )
    crypto_exchange_list: list[ExchangeInfo] = field(
        default_factory=lambda: [
            ExchangeInfo(kind="crypto", name="Binance"),
            ExchangeInfo(kind="crypto", name="Kraken"),
        ]
    )
    crypto_list: list[InstrumentInfo] = field(
        default_factory=lambda: [
            InstrumentInfo(
                kind="crypto", symbol=s, name=s, currency_base=s.split("/")[0], currency_quote="USD"
            )
            for s in ("BTC/USD", "SOL/USD", "ADA/USD", "USDC/USD")
        ]
    )
    failures: dict[str, ProviderError] = field(default_factory=dict)  # symbol or endpoint -> error
    calls: list[tuple[str, ...]] = field(default_factory=list)

    def _fail(self, key: str) -> None:
        if key in self.failures:
            raise self.failures[key]

    async def exchanges(self) -> list[ExchangeInfo]:
        self.calls.append(("/exchanges",))
        self._fail("/exchanges")
        return list(self.exchange_list)

    async def crypto_exchanges(self) -> list[ExchangeInfo]:
        self.calls.append(("/cryptocurrency_exchanges",))
        self._fail("/cryptocurrency_exchanges")
        return list(self.crypto_exchange_list)

    async def cryptocurrencies(self, *, currency_quote: str | None = None) -> list[InstrumentInfo]:
        self.calls.append(("/cryptocurrencies", currency_quote or ""))
        self._fail("/cryptocurrencies")
        return [i for i in self.crypto_list if currency_quote in (None, i.currency_quote)]

    async def stocks(
        self, *, exchange: str | None = None, country: str | None = None
    ) -> list[InstrumentInfo]:
        self.calls.append(("/stocks", exchange or ""))
        self._fail("/stocks")
        return []

    def visible(self, symbol: str, interval: str) -> list[Candle]:
        """What the provider shows at `now`: started bars, the last one provisional if still forming."""
        step = parse_interval(interval).approx
        shown = [c for c in self.market.candles(symbol, interval) if c.ts <= self.now]
        if shown and shown[-1].ts + step > self.now:
            shown[-1] = replace(shown[-1], close=shown[-1].open, high=shown[-1].open, low=shown[-1].open)
        return shown

    async def time_series(
        self,
        symbol: str,
        interval: str,
        *,
        start: date | None = None,
        end: date | None = None,
        outputsize: int = 5000,
        exchange_timezone: str | None = None,
    ) -> list[Candle]:
        self.calls.append(("/time_series", symbol, interval, start.isoformat() if start else ""))
        self._fail(symbol)
        shown = self.visible(symbol, interval)
        # As the real API: the LATEST `outputsize` bars of [start, end), oldest first.
        if start is not None:
            assert isinstance(start, datetime)
            shown = [c for c in shown if c.ts >= start]
        if end is not None:
            assert isinstance(end, datetime)
            shown = [c for c in shown if c.ts < end]
        return shown[-outputsize:]

    def series_calls(self, symbol: str | None = None) -> int:
        return sum(1 for c in self.calls if c[0] == "/time_series" and symbol in (None, c[1]))


def anchor() -> datetime:
    """The simulator's newest bar time (its series end just before 2025-06-01)."""
    return datetime(2025, 6, 1, tzinfo=UTC)


class MovingClock:
    """A wall clock for the sync (budget days, report times) that tests move by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


class SleepClock:
    """A monotonic clock for the resilient client that moves only when the client sleeps on it."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)
