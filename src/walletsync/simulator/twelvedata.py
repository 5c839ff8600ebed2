"""Twelve Data REST routes over the simulator's market data.

Routes: /exchanges, /cryptocurrency_exchanges, /cryptocurrencies, /stocks (all `{"data": [...],
"status": "ok"}`) and /time_series (meta + values, newest first, OHLC as fixed-decimal strings).
Errors are `{"code", "message", "status": "error"}` bodies. Choices where the real API is not
documented precisely:
- request errors (bad symbol or interval, missing/invalid apikey: codes 400 / 401) come with HTTP
  200, as the real API does for in-body errors; the per-minute credit limit (code 429) is HTTP 429
  with Retry-After, and injected server errors are HTTP 500, both with the same body shape;
- start_date is inclusive, end_date exclusive; without dates outputsize defaults to 30, with dates
  to 5000;
- every route costs one credit.
"""

from __future__ import annotations

from bisect import bisect_left
from datetime import datetime
from typing import Any

from walletsync.simulator.market import (
    CRYPTO_EXCHANGES,
    INSTRUMENTS,
    INTERVAL_SECONDS,
    MAX_BARS,
    STOCK_EXCHANGES,
    Bar,
    MarketData,
)
from walletsync.simulator.wire import SimRequest, SimResponse, json_response

_APIKEY_MESSAGE = (
    "**apikey** parameter is incorrect or not specified. You can get your free API key instantly "
    "following this link: https://twelvedata.com/pricing. If you believe that everything is correct, "
    "you can contact us at https://twelvedata.com/contact/customer"
)
_CREDITS_MESSAGE = (
    "You have run out of API credits for the current minute. Wait for the next minute or consider "
    "switching to a higher tier plan at https://twelvedata.com/pricing"
)


def _bar_start(bar: Bar) -> int:
    return bar.ts


def error_body(code: int, message: str) -> dict[str, Any]:
    return {"code": code, "message": message, "status": "error"}


class _Error(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class TwelveData:
    """The Twelve Data handler; `api_key` enables authentication."""

    name = "twelvedata"

    def __init__(self, market: MarketData, api_key: str | None = None) -> None:
        self.market = market
        self.api_key = api_key

    # --- ProviderHandler --------------------------------------------------------------------

    def cost(self, request: SimRequest) -> int:
        return 1

    def rate_limited(self, retry_after_s: int) -> SimResponse:
        return json_response(error_body(429, _CREDITS_MESSAGE), 429, (("retry-after", str(retry_after_s)),))

    def server_error(self, status: int) -> SimResponse:
        message = "We're sorry, an internal error occurred on our side. Please try again later."
        return json_response(error_body(status, message), status)

    def handle(self, request: SimRequest) -> SimResponse:
        if self.api_key is not None and self._key(request) != self.api_key:
            return json_response(error_body(401, _APIKEY_MESSAGE))
        route = request.path.strip("/")
        try:
            match route:
                case "exchanges":
                    return json_response(
                        {
                            "data": [
                                {**e, "access": {"global": "Basic", "plan": "Basic"}} for e in STOCK_EXCHANGES
                            ],
                            "status": "ok",
                        }
                    )
                case "cryptocurrency_exchanges":
                    return json_response({"data": [{"name": n} for n in CRYPTO_EXCHANGES], "status": "ok"})
                case "cryptocurrencies":
                    return json_response({"data": self.cryptocurrencies(), "status": "ok"})
                case "stocks":
                    return json_response({"data": self.stocks(), "status": "ok"})
                case "time_series":
                    return json_response(self.time_series(request.query))
                case _:
                    return json_response(error_body(404, f"**endpoint** /{route} not found"), 404)
        except _Error as exc:
            return json_response(error_body(exc.code, exc.message))

    @staticmethod
    def _key(request: SimRequest) -> str | None:
        key = request.query.get("apikey")
        if key is None:
            header = request.headers.get("authorization", "")
            if header.lower().startswith("apikey "):
                key = header[7:].strip()
        return key

    # --- routes -----------------------------------------------------------------------------

    @staticmethod
    def cryptocurrencies() -> list[dict[str, Any]]:
        return [
            {
                "symbol": i.symbol,
                "available_exchanges": list(i.exchanges),
                "currency_base": i.name,
                "currency_quote": i.quote_name,
            }
            for i in INSTRUMENTS
            if i.kind == "crypto"
        ]

    @staticmethod
    def stocks() -> list[dict[str, Any]]:
        return [
            {
                "symbol": i.symbol,
                "name": i.name,
                "currency": i.quote_name,
                "exchange": i.exchange,
                "mic_code": i.mic_code,
                "country": i.country,
                "type": "Common Stock",
                "figi_code": i.figi,
            }
            for i in INSTRUMENTS
            if i.kind == "stock"
        ]

    def time_series(self, query: Any) -> dict[str, Any]:
        market = self.market
        symbol = query.get("symbol")
        if not symbol:
            raise _Error(
                400,
                "**symbol** or **figi** parameter is missing or invalid. Please provide a valid "
                "symbol according to API documentation: https://twelvedata.com/docs#reference-data",
            )
        inst = market.instruments.get(symbol.upper())
        if inst is None:
            raise _Error(
                400,
                f"**symbol** not found: {symbol}. Please specify it correctly according to API Documentation.",
            )
        interval = query.get("interval")
        if interval not in INTERVAL_SECONDS:
            raise _Error(400, f"**interval** is not valid. Valid values: {', '.join(INTERVAL_SECONDS)}.")
        has_dates = "start_date" in query or "end_date" in query
        raw_size = query.get("outputsize", str(MAX_BARS if has_dates else 30))
        try:
            size = int(raw_size)
        except ValueError:
            size = 0
        if not 1 <= size <= MAX_BARS:
            raise _Error(400, f"**outputsize** must be in range 1-{MAX_BARS}")
        order = query.get("order", "desc").lower()
        if order not in ("asc", "desc"):
            raise _Error(400, "**order** must be one of: asc, desc")
        bars = market.bars(inst.symbol, interval)
        start, end = 0, len(bars)
        for name in ("start_date", "end_date"):
            if name not in query:
                continue
            try:
                ts = market.parse_local(inst.symbol, interval, query[name])
            except ValueError:
                raise _Error(
                    400,
                    f"**{name}** parameter is invalid, please specify it in format "
                    "YYYY-MM-DD or YYYY-MM-DD HH:MM:SS",
                ) from None
            if name == "start_date":
                start = bisect_left(bars, ts, key=_bar_start)
            else:
                end = bisect_left(bars, ts, key=_bar_start)
        chosen = bars[max(start, end - size) : end]
        if not chosen:
            raise _Error(
                400, "No data is available on the specified dates. Try setting different start/end dates."
            )
        zone = market.zone(inst.symbol, interval)
        fmt = "%Y-%m-%d" if interval == "1day" else "%Y-%m-%d %H:%M:%S"
        values = []
        for bar in reversed(chosen) if order == "desc" else chosen:
            value = {
                "datetime": datetime.fromtimestamp(bar.ts, zone).strftime(fmt),
                "open": bar.open,
                "high": bar.high,
                "low": bar.low,
                "close": bar.close,
            }
            if bar.volume is not None:
                value["volume"] = bar.volume
            values.append(value)
        meta: dict[str, Any]
        if inst.kind == "crypto":
            meta = {
                "symbol": inst.symbol,
                "interval": interval,
                "currency_base": inst.name,
                "currency_quote": inst.quote_name,
                "exchange": inst.exchange,
                "type": "Digital Currency",
            }
        else:
            meta = {
                "symbol": inst.symbol,
                "interval": interval,
                "currency": inst.quote_name,
                "exchange_timezone": "America/New_York",
                "exchange": inst.exchange,
                "mic_code": inst.mic_code,
                "type": "Common Stock",
            }
        return {"meta": meta, "values": values, "status": "ok"}
