"""The simulator's market data: Twelve Data catalogs and deterministic OHLCV series.

Each (symbol, interval) series is a seeded random walk ending at the ledger's anchor time, at most
5000 bars long (Twelve Data's largest outputsize), built on first use and cached. Prices are kept as
the fixed-decimal strings the API prints, and the ground truth (`candles`) parses those same strings,
so a test comparing stored prices to the truth compares exact Decimals.
Crypto pairs trade around the clock in UTC; stocks only on weekdays, 09:30-16:00 New York time,
with datetimes printed in the exchange time zone as the real API does (a stock's daily bar is its
New York trading date, starting at New York midnight).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal
from zoneinfo import ZoneInfo

from walletsync.providers.types import Candle

ANCHOR_TS = 1_748_736_000  # 2025-06-01T00:00:00Z
MAX_BARS = 5000
PRICE_DECIMALS = 5

INTERVAL_SECONDS = {
    "1min": 60,
    "5min": 300,
    "15min": 900,
    "30min": 1800,
    "45min": 2700,
    "1h": 3600,
    "2h": 7200,
    "4h": 14_400,
    "1day": 86_400,
}

NEW_YORK = ZoneInfo("America/New_York")


@dataclass(frozen=True, slots=True)
class Instrument:
    symbol: str
    kind: str  # "crypto" or "stock"
    name: str  # stock: company name; crypto: base currency name
    quote_name: str  # crypto: quote currency name; stock: currency code
    exchange: str
    start_price: float
    volatility: float  # per-sqrt(hour) relative move
    mic_code: str = ""
    country: str = ""
    figi: str = ""
    exchanges: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar as the API prints it: UTC start time plus fixed-decimal strings."""

    ts: int
    open: str
    high: str
    low: str
    close: str
    volume: str | None


CRYPTO_EXCHANGES = ("Binance", "Coinbase Pro", "Kraken", "Bitstamp")


def _crypto(symbol: str, base: str, exchange: str, price: float, vol: float, venues: int) -> Instrument:
    return Instrument(
        symbol, "crypto", base, "US Dollar", exchange, price, vol, exchanges=CRYPTO_EXCHANGES[:venues]
    )


def _stock(symbol: str, name: str, price: float, vol: float, figi: str) -> Instrument:
    return Instrument(symbol, "stock", name, "USD", "NASDAQ", price, vol, "XNGS", "United States", figi)


INSTRUMENTS: tuple[Instrument, ...] = (
    _crypto("BTC/USD", "Bitcoin", "Coinbase Pro", 64_000.0, 0.006, 4),
    _crypto("ETH/USD", "Ethereum", "Coinbase Pro", 3_100.0, 0.008, 4),
    _crypto("SOL/USD", "Solana", "Coinbase Pro", 160.0, 0.010, 3),
    _crypto("ADA/USD", "Cardano", "Binance", 0.45, 0.010, 3),
    _crypto("USDC/USD", "USD Coin", "Coinbase Pro", 1.0, 0.0002, 2),
    _stock("AAPL", "Apple Inc", 190.0, 0.004, "BBG000B9Y5X2"),
    _stock("MSFT", "Microsoft Corporation", 420.0, 0.004, "BBG000BPH459"),
    _stock("COIN", "Coinbase Global Inc", 230.0, 0.009, "BBG002D4F8B7"),
)

STOCK_EXCHANGES: tuple[dict[str, str], ...] = (
    {"name": "NASDAQ", "code": "XNGS", "country": "United States", "timezone": "America/New_York"},
    {"name": "NYSE", "code": "XNYS", "country": "United States", "timezone": "America/New_York"},
    {"name": "LSE", "code": "XLON", "country": "United Kingdom", "timezone": "Europe/London"},
)


def _stock_session(ts: int, step: int) -> bool:
    """True when a bar starting at `ts` lies in the New York regular session (or is a weekday, daily)."""
    local = datetime.fromtimestamp(ts, NEW_YORK)
    if local.weekday() >= 5:
        return False
    minutes = local.hour * 60 + local.minute
    return minutes >= 9 * 60 + 30 and minutes + step // 60 <= 16 * 60


class MarketData:
    """Catalogs and price series for one seed."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.instruments = {i.symbol: i for i in INSTRUMENTS}
        self._series: dict[tuple[str, str], list[Bar]] = {}

    def bars(self, symbol: str, interval: str) -> list[Bar]:
        """All bars of a series, oldest first. KeyError for an unknown symbol or interval."""
        key = (symbol, interval)
        cached = self._series.get(key)
        if cached is None:
            cached = self._series[key] = self._build(self.instruments[symbol], INTERVAL_SECONDS[interval])
        return cached

    def _build(self, inst: Instrument, step: int) -> list[Bar]:
        rng = random.Random(f"{self.seed}:market:{inst.symbol}:{step}")
        start_ts = (ANCHOR_TS // step) * step - step  # the newest complete bar before the anchor
        sigma = inst.volatility * math.sqrt(step / 3600)
        starts: list[int] = []
        if inst.kind == "stock" and step >= 86_400:
            # a stock's daily bar is its exchange's trading day, starting at local midnight
            day = datetime.fromtimestamp(ANCHOR_TS, NEW_YORK).date() - timedelta(days=1)
            while len(starts) < MAX_BARS:
                if day.weekday() < 5:
                    starts.append(int(datetime(day.year, day.month, day.day, tzinfo=NEW_YORK).timestamp()))
                day -= timedelta(days=1)
        else:
            ts = start_ts
            # walk back over the calendar: a stock's intraday bars exist only in its session
            while len(starts) < MAX_BARS:
                if inst.kind == "crypto" or _stock_session(ts, step):
                    starts.append(ts)
                ts -= step
        starts.reverse()
        raw: list[tuple[int, float, float, float, float, str | None]] = []
        price = 1.0
        for ts in starts:
            open_ = price
            close = open_ * math.exp(rng.gauss(0, sigma))
            high = max(open_, close) * (1 + abs(rng.gauss(0, sigma / 3)))
            low = min(open_, close) * (1 - abs(rng.gauss(0, sigma / 3)))
            volume = None
            if inst.kind == "stock":
                volume = str(int(rng.lognormvariate(11, 0.6) * step / 3600 + 100))
            raw.append((ts, open_, high, low, close, volume))
            price = close
        # scale the walk so every series ends near the instrument's price at the anchor
        scale = inst.start_price * math.exp(rng.gauss(0, 0.03)) / price
        fmt = f"{{:.{PRICE_DECIMALS}f}}"
        bars = [
            Bar(
                ts,
                fmt.format(o * scale),
                fmt.format(h * scale),
                fmt.format(lo * scale),
                fmt.format(c * scale),
                v,
            )
            for ts, o, h, lo, c, v in raw
        ]
        return bars

    def candles(self, symbol: str, interval: str) -> list[Candle]:
        """Ground truth: the series as `Candle`s (UTC start times, exact Decimals), oldest first."""
        return [
            Candle(
                symbol=symbol,
                interval=interval,
                ts=datetime.fromtimestamp(b.ts, UTC),
                open=Decimal(b.open),
                high=Decimal(b.high),
                low=Decimal(b.low),
                close=Decimal(b.close),
                volume=Decimal(b.volume) if b.volume is not None else None,
            )
            for b in self.bars(symbol, interval)
        ]

    def zone(self, symbol: str, interval: str) -> tzinfo:
        """Time zone the API prints (and reads dates in): the exchange's for stocks, UTC for crypto."""
        return NEW_YORK if self.instruments[symbol].kind == "stock" else UTC

    def parse_local(self, symbol: str, interval: str, text: str) -> int:
        """A start_date/end_date in the series' time zone to a unix timestamp; ValueError if malformed."""
        tz = self.zone(symbol, interval)
        for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
            try:
                return int(datetime.strptime(text, fmt).replace(tzinfo=tz).timestamp())
            except ValueError:
                continue
        raise ValueError(text)
