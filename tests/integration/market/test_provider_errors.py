"""Twelve Data error bodies through the real client, classifier and adapter end as clear job errors."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import pytest

from walletsync.config import Settings
from walletsync.db.engine import Database
from walletsync.market import candles as candle_store
from walletsync.market.budget import CreditBudget
from walletsync.market.errors import PriceSyncError
from walletsync.market.sync import sync_prices
from walletsync.providers.http import ResilientClient
from walletsync.providers.twelvedata import TwelveDataAdapter, TwelveDataErrorClassifier
from walletsync.simulator.market import MarketData

from .fakes import MovingClock, SleepClock, anchor

BAD_SYMBOL = {
    "code": 400,
    "message": "**symbol** not found: XXX/USD. Please specify it correctly according to API Documentation.",
    "status": "error",
}
OUT_FOR_THE_DAY = {
    "code": 429,
    "message": "You have run out of API credits for the day. 801 API credits were used, with the current limit "
    "being 800. Wait for the next day or consider switching to a higher tier plan at https://twelvedata.com/pricing",
    "status": "error",
}
OUT_FOR_THE_MINUTE = {
    "code": 429,
    "message": "You have run out of API credits for the current minute. 9 API credits were used, with the "
    "current limit being 8. Wait for the next minute or consider switching to a higher tier plan.",
    "status": "error",
}


def _series_body(symbol: str, count: int) -> dict[str, Any]:
    """A `/time_series` body as Twelve Data prints it: newest first, fixed-decimal strings."""
    candles = MarketData(42).candles(symbol, "1h")[-count:]
    values = [
        {
            "datetime": c.ts.strftime("%Y-%m-%d %H:%M:%S"),
            "open": str(c.open),
            "high": str(c.high),
            "low": str(c.low),
            "close": str(c.close),
        }
        for c in reversed(candles)
    ]
    return {
        "meta": {"symbol": symbol, "interval": "1h", "type": "Digital Currency"},
        "values": values,
        "status": "ok",
    }


def _client(settings: Settings, answers: dict[str, dict[str, Any]], seen: list[str]) -> ResilientClient:
    def handle(request: httpx.Request) -> httpx.Response:
        symbol = request.url.params.get("symbol", "")
        seen.append(symbol)
        body = answers.get(symbol) or _series_body(symbol, int(request.url.params.get("outputsize", "30")))
        return httpx.Response(200, content=json.dumps(body), headers={"Content-Type": "application/json"})

    fake = SleepClock()
    config = settings.model_copy(
        update={"twelvedata_urls": ["http://twelvedata.test"], "twelvedata_api_key": "secret-key"}
    ).provider_config("twelvedata")
    return ResilientClient(
        config,
        classify=TwelveDataErrorClassifier(clock=lambda: fake.now),
        transport=httpx.MockTransport(handle),
        clock=fake,
        sleep=fake.sleep,
    )


def _cfg(settings: Settings, symbols: list[str]) -> Settings:
    return settings.model_copy(
        update={"price_symbols": symbols, "price_intervals": ["1h"], "price_history_days": 2}
    )


async def test_bad_symbol_400_names_the_symbol(db: Database, settings: Settings) -> None:
    """Twelve Data's 400 'symbol not found' body fails that series with its message; SOL/USD is stored."""
    seen: list[str] = []
    async with _client(settings, {"XXX/USD": BAD_SYMBOL}, seen) as client:
        with pytest.raises(PriceSyncError) as caught:
            await sync_prices(
                db,
                TwelveDataAdapter(client),
                _cfg(settings, ["XXX/USD", "SOL/USD"]),
                clock=MovingClock(anchor()),
                catalogs=False,
            )
    assert "XXX/USD 1h" in str(caught.value)
    assert "symbol not found: XXX/USD" in str(caught.value)
    assert "**" not in str(caught.value)
    assert seen.count("XXX/USD") == 1  # a 400 is not retried
    async with db.read() as conn:
        sol = await candle_store.get_instrument(conn, "SOL/USD")
        assert await candle_store.bar_count(conn, sol.id, "1h") == 48


async def test_daily_credits_429_exhausts_budget(db: Database, settings: Settings) -> None:
    """The 'run out of API credits for the day' body stops the run and uses up today's budget."""
    seen: list[str] = []
    clock = MovingClock(anchor() + timedelta(hours=3))
    async with _client(settings, {"SOL/USD": OUT_FOR_THE_DAY}, seen) as client:
        with pytest.raises(PriceSyncError, match="run out of API credits for the day") as caught:
            await sync_prices(
                db, TwelveDataAdapter(client), _cfg(settings, ["SOL/USD"]), clock=clock, catalogs=False
            )
    assert caught.value.report.errors[0].kind == "QuotaExceededError"
    assert seen == ["SOL/USD"]  # nothing after it, not even ADA/USD
    usage = await CreditBudget(db, limit=settings.twelvedata_daily_credits, clock=clock).usage()
    assert usage.remaining == 0


async def test_minute_credits_429_retried_then_clear_error(db: Database, settings: Settings) -> None:
    """A per-minute 429 that never clears waits (without using up attempts) until the call deadline, then
    fails the run with its message."""
    seen: list[str] = []
    async with _client(settings, {"SOL/USD": OUT_FOR_THE_MINUTE}, seen) as client:
        with pytest.raises(PriceSyncError, match="current minute") as caught:
            await sync_prices(
                db,
                TwelveDataAdapter(client),
                _cfg(settings, ["SOL/USD"]),
                clock=MovingClock(anchor()),
                catalogs=False,
            )
    # By hand: the client's SleepClock starts at 1,000 s, 40 s into a minute, so the first wait is 20 s (to the next minute),
    # the second a whole minute (80 s spent); a third 60 s wait would end at 140 s, past the 120 s
    # WALLETSYNC_PROVIDER_DEADLINE, so the client stops after three requests and says why.
    assert settings.provider_deadline_s == 120
    assert seen.count("SOL/USD") == 3
    assert "deadline" in str(caught.value)
    assert "secret-key" not in str(caught.value)
