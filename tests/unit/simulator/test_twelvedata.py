"""The simulated Twelve Data API: series against the ground truth, catalogs, errors and auth."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from walletsync.simulator.market import MarketData
from walletsync.simulator.twelvedata import TwelveData

from .shapes import get


@pytest.fixture(scope="module")
def handler() -> TwelveData:
    return TwelveData(MarketData(9))


def test_time_series_is_newest_first_and_equals_the_ground_truth(handler: TwelveData) -> None:
    """Values are newest first, fixed-decimal strings, and equal the ledger's candles."""
    body = get(handler, "/time_series", symbol="SOL/USD", interval="1h", outputsize=50).json()
    assert body["status"] == "ok"
    assert body["meta"] == {
        "symbol": "SOL/USD",
        "interval": "1h",
        "currency_base": "Solana",
        "currency_quote": "US Dollar",
        "exchange": "Coinbase Pro",
        "type": "Digital Currency",
    }
    values = body["values"]
    assert len(values) == 50
    assert [v["datetime"] for v in values] == sorted((v["datetime"] for v in values), reverse=True)
    truth = handler.market.candles("SOL/USD", "1h")[-50:][::-1]
    for value, candle in zip(values, truth, strict=True):
        assert datetime.strptime(value["datetime"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC) == candle.ts
        assert Decimal(value["close"]) == candle.close
        assert len(value["open"].split(".")[1]) == 5
        assert "volume" not in value
    assert Decimal(values[0]["open"]) == truth[1].close  # bars chain: open = previous close


def test_date_window_and_default_size(handler: TwelveData) -> None:
    """start_date is inclusive, end_date exclusive; without dates 30 values; daily dates are days."""
    assert len(get(handler, "/time_series", symbol="BTC/USD", interval="1min").json()["values"]) == 30
    window = get(
        handler,
        "/time_series",
        symbol="BTC/USD",
        interval="15min",
        start_date="2025-05-30 00:00:00",
        end_date="2025-05-30 02:00:00",
    ).json()["values"]
    assert [v["datetime"] for v in window][::-1] == [
        f"2025-05-30 {h:02d}:{m:02d}:00" for h in (0, 1) for m in (0, 15, 30, 45)
    ]
    daily = get(handler, "/time_series", symbol="ADA/USD", interval="1day", outputsize=3).json()["values"]
    assert [v["datetime"] for v in daily] == ["2025-05-31", "2025-05-30", "2025-05-29"]


def test_stocks_trade_in_new_york_hours_with_volume(handler: TwelveData) -> None:
    """Stock bars are in exchange time within 09:30-16:00 and carry volume; meta names the time zone."""
    body = get(handler, "/time_series", symbol="AAPL", interval="1h", outputsize=40).json()
    assert body["meta"]["exchange_timezone"] == "America/New_York"
    for value in body["values"]:
        clock = value["datetime"][11:16]
        assert "09:30" <= clock <= "15:00"
        assert value["volume"].isdigit()
    daily = get(handler, "/time_series", symbol="AAPL", interval="1day", outputsize=2).json()["values"]
    assert [v["datetime"] for v in daily] == ["2025-05-30", "2025-05-29"]  # Saturday 31st is no trading day
    newest = handler.market.candles("AAPL", "1day")[-1]
    assert newest.ts == datetime(2025, 5, 30, 4, tzinfo=UTC)  # New York midnight (EDT) of the trading day


def test_catalogs_list_instruments(handler: TwelveData) -> None:
    """The list routes return data + status ok with the documented fields."""
    cryptos = get(handler, "/cryptocurrencies").json()
    assert cryptos["status"] == "ok"
    assert {c["symbol"] for c in cryptos["data"]} >= {"SOL/USD", "ADA/USD", "BTC/USD", "ETH/USD"}
    assert set(cryptos["data"][0]) == {"symbol", "available_exchanges", "currency_base", "currency_quote"}
    stocks = get(handler, "/stocks").json()["data"]
    assert {"symbol", "name", "currency", "exchange", "mic_code", "country", "type"} <= set(stocks[0])
    assert {"name", "code", "country", "timezone"} <= set(get(handler, "/exchanges").json()["data"][0])
    assert get(handler, "/cryptocurrency_exchanges").json()["data"][0] == {"name": "Binance"}


def test_errors_come_as_status_error_bodies() -> None:
    """Bad symbol/interval: code 400 in an HTTP 200; wrong apikey: code 401; the limit body is 429."""
    handler = TwelveData(MarketData(9), api_key="k1")
    denied = get(handler, "/time_series", symbol="SOL/USD", interval="1h")
    assert denied.status == 200
    assert denied.json()["code"] == 401
    assert denied.json()["status"] == "error"
    bad = get(handler, "/time_series", symbol="NOPE/USD", interval="1h", apikey="k1")
    assert bad.status == 200
    assert bad.json()["code"] == 400
    assert "**symbol**" in bad.json()["message"]
    assert "not found" in bad.json()["message"]
    assert get(handler, "/time_series", symbol="SOL/USD", interval="3h", apikey="k1").json()["code"] == 400
    assert (
        get(handler, "/time_series", symbol="SOL/USD", interval="1h", outputsize=5001, apikey="k1").json()[
            "code"
        ]
        == 400
    )
    limited = handler.rate_limited(12)
    assert limited.status == 429
    assert ("retry-after", "12") in limited.headers
    assert limited.json()["message"].startswith("You have run out of API credits for the current minute.")
