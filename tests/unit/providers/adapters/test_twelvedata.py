"""`TwelveDataAdapter` against a mock API answering with bodies in the shapes of Twelve Data's documentation.

The shared real-responses folder holds no Twelve Data bodies; the ones below follow the official API
reference examples (`/time_series`, `/exchanges`, `/cryptocurrency_exchanges`, `/cryptocurrencies`,
`/stocks`) field for field.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from walletsync.providers import twelvedata
from walletsync.providers.errors import RateLimitedError, UpstreamBadRequestError
from walletsync.providers.twelvedata import TwelveDataAdapter, parse_time_series
from walletsync.providers.types import ExchangeInfo

if TYPE_CHECKING:
    from .conftest import MakeTransport

AAPL_1DAY = {
    "meta": {
        "symbol": "AAPL",
        "interval": "1day",
        "currency": "USD",
        "exchange_timezone": "America/New_York",
        "exchange": "NASDAQ",
        "mic_code": "XNAS",
        "type": "Common Stock",
    },
    "values": [
        {
            "datetime": "2021-09-16",
            "open": "148.44000",
            "high": "148.97000",
            "low": "147.22099",
            "close": "148.79000",
            "volume": "67903927",
        },
        {
            "datetime": "2021-09-15",
            "open": "148.56000",
            "high": "149.44000",
            "low": "146.37000",
            "close": "149.03000",
            "volume": "83281315",
        },
    ],
    "status": "ok",
}

BTC_1MIN = {
    "meta": {
        "symbol": "BTC/USD",
        "interval": "1min",
        "currency_base": "Bitcoin",
        "currency_quote": "US Dollar",
        "exchange": "Coinbase Pro",
        "type": "Digital Currency",
    },
    "values": [
        {
            "datetime": "2024-03-13 15:32:00",
            "open": "71200.5",
            "high": "71210",
            "low": "71190.01",
            "close": "71205",
        },
        {
            "datetime": "2024-03-13 15:31:00",
            "open": "71180",
            "high": "71201",
            "low": "71170",
            "close": "71200.5",
        },
    ],
    "status": "ok",
}


def api(answer: Any, seen: list[httpx.Request]) -> Any:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        status, body = answer(request) if callable(answer) else (200, answer)
        return httpx.Response(status, json=body)

    return handle


def test_daily_bars_are_dated_in_the_exchange_zone_and_returned_oldest_first() -> None:
    """AAPL daily bars (newest first, New York dates) become UTC bar starts, oldest first, as Decimals."""
    candles = parse_time_series(AAPL_1DAY, symbol="AAPL", interval="1day")

    assert [c.ts for c in candles] == [
        datetime(2021, 9, 15, 4, 0, tzinfo=UTC),  # midnight EDT
        datetime(2021, 9, 16, 4, 0, tzinfo=UTC),
    ]
    assert candles[1].close == Decimal("148.79000")
    assert candles[1].volume == Decimal("67903927")
    assert candles[0].interval == "1day"


def test_crypto_without_exchange_zone_is_utc_and_may_lack_volume() -> None:
    """No meta.exchange_timezone (crypto) means UTC; a missing volume is None."""
    candles = parse_time_series(BTC_1MIN, symbol="BTC/USD", interval="1min")

    assert [c.ts for c in candles] == [
        datetime(2024, 3, 13, 15, 31, tzinfo=UTC),
        datetime(2024, 3, 13, 15, 32, tzinfo=UTC),
    ]
    assert candles[0].volume is None
    assert candles[1].open == Decimal("71200.5")


async def test_intraday_request_sends_bounds(make_transport: MakeTransport) -> None:
    """Intraday crypto with start/end: bounds in UTC (crypto's local time), cost 1, values in UTC."""
    seen: list[httpx.Request] = []
    transport = make_transport(api(BTC_1MIN, seen), twelvedata.classify_error)
    start = datetime(2024, 3, 13, 15, 31, tzinfo=UTC)

    candles = await TwelveDataAdapter(transport).time_series(
        "BTC/USD", "1min", start=start, end=datetime(2024, 3, 13, 17, 32, tzinfo=UTC), outputsize=10
    )

    assert seen[0].url.path == "/time_series"
    assert dict(seen[0].url.params) == {
        "symbol": "BTC/USD",
        "interval": "1min",
        "outputsize": "10",
        "start_date": "2024-03-13 15:31:00",
        "end_date": "2024-03-13 17:32:00",
    }
    assert transport.calls[0].cost == 1
    assert candles[0].ts == start


async def test_stock_bounds_and_values_use_the_exchange_zone(make_transport: MakeTransport) -> None:
    """For a stock, bounds are sent in exchange time and intraday values read in meta.exchange_timezone."""
    body = {**AAPL_1DAY, "meta": {**AAPL_1DAY["meta"], "interval": "1h"}}
    body["values"] = [{**v, "datetime": f"{v['datetime']} 14:00:00"} for v in AAPL_1DAY["values"]]
    seen: list[httpx.Request] = []
    transport = make_transport(api(body, seen), twelvedata.classify_error)

    candles = await TwelveDataAdapter(transport).time_series(
        "AAPL", "1h", start=datetime(2021, 9, 15, 13, 30, tzinfo=UTC), exchange_timezone="America/New_York"
    )

    assert seen[0].url.params["start_date"] == "2021-09-15 09:30:00"  # EDT = UTC-4
    assert [c.ts for c in candles] == [
        datetime(2021, 9, 15, 18, 0, tzinfo=UTC),
        datetime(2021, 9, 16, 18, 0, tzinfo=UTC),
    ]


async def test_daily_request_sends_dates(make_transport: MakeTransport) -> None:
    """Daily bars: bounds as dates in the exchange's zone, values dated in that zone."""
    seen: list[httpx.Request] = []
    transport = make_transport(api(AAPL_1DAY, seen), twelvedata.classify_error)

    candles = await TwelveDataAdapter(transport).time_series(
        "AAPL",
        "1day",
        start=date(2021, 9, 1),
        end=datetime(2021, 9, 17, 3, 0, tzinfo=UTC),  # still the 16th in New York
        outputsize=9000,
        exchange_timezone="America/New_York",
    )

    params = dict(seen[0].url.params)
    assert "timezone" not in params
    assert (params["start_date"], params["end_date"], params["outputsize"]) == (
        "2021-09-01",
        "2021-09-16",
        "5000",
    )
    assert candles[-1].ts == datetime(2021, 9, 16, 4, 0, tzinfo=UTC)


async def test_result_is_oldest_first_whatever_the_api_order(make_transport: MakeTransport) -> None:
    """No order parameter is sent (the API answers newest first); the result is still oldest first."""
    seen: list[httpx.Request] = []
    transport = make_transport(api(AAPL_1DAY, seen), twelvedata.classify_error)

    candles = await TwelveDataAdapter(transport).time_series("AAPL", "1day")

    assert "order" not in dict(seen[0].url.params)
    assert candles[0].ts < candles[1].ts


async def test_empty_range_is_an_empty_list(make_transport: MakeTransport) -> None:
    """Twelve Data's 400 "No data is available on the specified dates" means no candles, not a failure."""
    body = {
        "code": 400,
        "message": "No data is available on the specified dates. Try setting different start/end dates.",
        "status": "error",
    }
    transport = make_transport(api(body, []), twelvedata.classify_error)

    assert await TwelveDataAdapter(transport).time_series("AAPL", "1day", start=date(2030, 1, 1)) == []


async def test_other_errors_surface(make_transport: MakeTransport) -> None:
    """A bad symbol stays a bad request; a minute limit in an HTTP 200 body is RateLimitedError."""
    bad = {
        "code": 400,
        "message": "**symbol** or **figi** parameter is missing or invalid.",
        "status": "error",
    }
    limited = {
        "code": 429,
        "message": "You have run out of API credits for the current minute.",
        "status": "error",
    }
    with pytest.raises(UpstreamBadRequestError, match="symbol or figi parameter"):
        await TwelveDataAdapter(make_transport(api(bad, []), twelvedata.classify_error)).time_series(
            "X", "1day"
        )
    with pytest.raises(RateLimitedError):
        await TwelveDataAdapter(make_transport(api(limited, []), twelvedata.classify_error)).time_series(
            "X", "1day"
        )


async def test_naive_bounds_and_unknown_zones_are_refused(make_transport: MakeTransport) -> None:
    """A naive datetime bound or an unknown zone name raises ValueError before any request."""
    transport = make_transport(api(AAPL_1DAY, []), twelvedata.classify_error)
    adapter = TwelveDataAdapter(transport)
    with pytest.raises(ValueError, match="timezone-aware"):
        await adapter.time_series("AAPL", "1h", start=datetime(2024, 1, 1))
    with pytest.raises(ValueError, match="unknown time zone"):
        await adapter.time_series("AAPL", "1h", exchange_timezone="Mars/Olympus")
    assert transport.calls == []


async def test_exchanges_and_crypto_exchanges(make_transport: MakeTransport) -> None:
    """/exchanges rows become stock ExchangeInfo (name, MIC, country, zone); crypto ones carry only names."""
    exchanges = {
        "data": [
            {
                "title": "Argentinian Stock Exchange",
                "name": "BCBA",
                "code": "XBUE",
                "country": "Argentina",
                "timezone": "America/Argentina/Buenos_Aires",
                "access": {"global": "Pro", "plan": "Pro", "plan_business": "Basic"},
            }
        ],
        "status": "ok",
    }
    crypto = {"data": [{"name": "Binance"}, {"name": "Coinbase Pro"}], "status": "ok"}

    def answer(request: httpx.Request) -> tuple[int, Any]:
        return 200, exchanges if request.url.path == "/exchanges" else crypto

    adapter = TwelveDataAdapter(make_transport(api(answer, []), twelvedata.classify_error))

    assert await adapter.exchanges() == [
        ExchangeInfo(
            kind="stock",
            name="BCBA",
            code="XBUE",
            country="Argentina",
            timezone="America/Argentina/Buenos_Aires",
        )
    ]
    assert await adapter.crypto_exchanges() == [
        ExchangeInfo(kind="crypto", name="Binance"),
        ExchangeInfo(kind="crypto", name="Coinbase Pro"),
    ]


async def test_cryptocurrencies_use_symbol_codes(make_transport: MakeTransport) -> None:
    """Crypto pairs get base/quote codes from the symbol; the API's names and exchanges go to name/metadata."""
    body = {
        "count": 1,
        "data": [
            {
                "symbol": "BTC/USD",
                "available_exchanges": ["ABCC", "Allcoin", "BTC-Alpha"],
                "currency_base": "Bitcoin",
                "currency_quote": "US Dollar",
            }
        ],
        "status": "ok",
    }
    seen: list[httpx.Request] = []
    adapter = TwelveDataAdapter(make_transport(api(body, seen), twelvedata.classify_error))

    [pair] = await adapter.cryptocurrencies(currency_quote="USD")

    assert dict(seen[0].url.params) == {"currency_quote": "USD"}
    assert (pair.kind, pair.symbol, pair.currency_base, pair.currency_quote) == (
        "crypto",
        "BTC/USD",
        "BTC",
        "USD",
    )
    assert pair.name == "Bitcoin / US Dollar"
    assert pair.exchange == ""
    assert pair.metadata["available_exchanges"] == ["ABCC", "Allcoin", "BTC-Alpha"]


async def test_stocks_with_filters(make_transport: MakeTransport) -> None:
    """/stocks is filtered by exchange/country; rows keep exchange, currency, type and identifiers."""
    body = {
        "count": 1,
        "data": [
            {
                "symbol": "AAPL",
                "name": "Apple Inc",
                "currency": "USD",
                "exchange": "NASDAQ",
                "mic_code": "XNGS",
                "country": "United States",
                "type": "Common Stock",
                "figi_code": "BBG000B9Y5X2",
                "cfi_code": "ESVUFR",
                "isin": "US0378331005",
                "cusip": "037833100",
                "access": {"global": "Basic", "plan": "Basic", "plan_business": "Basic"},
            }
        ],
        "status": "ok",
    }
    seen: list[httpx.Request] = []
    adapter = TwelveDataAdapter(make_transport(api(body, seen), twelvedata.classify_error))

    [stock] = await adapter.stocks(exchange="NASDAQ")

    assert dict(seen[0].url.params) == {"exchange": "NASDAQ"}
    assert (stock.kind, stock.symbol, stock.exchange, stock.currency_quote) == (
        "stock",
        "AAPL",
        "NASDAQ",
        "USD",
    )
    assert (stock.country, stock.instrument_type) == ("United States", "Common Stock")
    assert stock.metadata == {
        "mic_code": "XNGS",
        "figi_code": "BBG000B9Y5X2",
        "isin": "US0378331005",
        "cusip": "037833100",
    }
