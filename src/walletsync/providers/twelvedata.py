"""Twelve Data adapter: exchange and instrument catalogs, and OHLCV time series as UTC candles.

Twelve Data reports errors as `{"code", "message", "status": "error"}`, often with HTTP 200, so
`classify_error` reads the body before the status. The client adds the `apikey` parameter; nothing
here sees the key.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from walletsync.providers.errors import (
    MalformedResponseError,
    ProviderAuthError,
    ProviderError,
    QuotaExceededError,
    RateLimitedError,
    UpstreamBadRequestError,
    UpstreamNotFoundError,
    UpstreamServerError,
)
from walletsync.providers.headers import retry_after_s
from walletsync.providers.types import Candle, ExchangeInfo, InstrumentInfo, JsonTransport

__all__ = ["TwelveDataAdapter", "TwelveDataErrorClassifier", "classify_error", "parse_time_series"]

PROVIDER = "twelvedata"
DAILY_INTERVALS = frozenset({"1day", "1week", "1month"})
MAX_OUTPUTSIZE = 5000
NO_DATA_MESSAGE = "No data is available on the specified dates"


def _clean(message: str) -> str:
    """Twelve Data messages mark parameter names up as markdown bold (`**symbol**`)."""
    return " ".join(message.replace("**", "").split())


class TwelveDataErrorClassifier:
    """`classify_error` with an injectable clock (per-minute limits reset on the next whole minute)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock

    def __call__(self, status: int, body: Any, headers: Mapping[str, str]) -> ProviderError | None:
        if isinstance(body, Mapping) and body.get("status") == "error":
            code = body.get("code")
            code = code if isinstance(code, int) else status
            message = _clean(str(body.get("message") or "error"))
            return self._error(code, message, status, headers)
        if status >= 400:
            return self._error(status, f"HTTP {status}", status, headers)
        if body is None:
            return MalformedResponseError("response is not JSON", provider=PROVIDER, http_status=status)
        return None

    def _error(self, code: int, message: str, status: int, headers: Mapping[str, str]) -> ProviderError:
        kwargs: dict[str, Any] = {"provider": PROVIDER, "http_status": status}
        detail = f"{code}: {message}"
        if code == 429:
            if "for the day" in message.lower():
                return QuotaExceededError(detail, **kwargs)
            wait = retry_after_s(headers)
            if wait is None:
                # Minute credits refill at the next whole minute.
                wait = max(1.0, 60.0 - self._clock() % 60.0)
            return RateLimitedError(detail, retry_after_s=wait, **kwargs)
        if code in (401, 403):
            return ProviderAuthError(detail, **kwargs)
        if code == 404:
            return UpstreamNotFoundError(detail, **kwargs)
        if code >= 500:
            return UpstreamServerError(detail, **kwargs)
        return UpstreamBadRequestError(detail, **kwargs)


classify_error = TwelveDataErrorClassifier()


def _data(body: Any) -> list[Mapping[str, Any]]:
    data = body.get("data") if isinstance(body, Mapping) else None
    if not isinstance(data, list):
        raise MalformedResponseError("list response has no data array", provider=PROVIDER)
    return [row for row in data if isinstance(row, Mapping)]


def _decimal(value: Any, field: str) -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise MalformedResponseError(f"{field} is not a number: {value!r}", provider=PROVIDER) from exc


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name) if name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise MalformedResponseError(f"unknown exchange time zone {name!r}", provider=PROVIDER) from exc


def _parse_datetime(text: str, zone: ZoneInfo) -> datetime:
    local = datetime.strptime(text, "%Y-%m-%d %H:%M:%S" if " " in text else "%Y-%m-%d")
    return local.replace(tzinfo=zone).astimezone(UTC)


def parse_time_series(
    body: Any, *, symbol: str, interval: str, default_timezone: str | None = None
) -> list[Candle]:
    """A `/time_series` body as candles, oldest first, bar starts in UTC.

    Datetimes are in the exchange's zone: `meta.exchange_timezone` (stocks), else
    `default_timezone`, else UTC (crypto and forex carry no exchange zone and are quoted in UTC).
    """
    if not isinstance(body, Mapping) or not isinstance(body.get("values"), list):
        raise MalformedResponseError("time series has no values array", provider=PROVIDER)
    meta = body.get("meta") or {}
    zone = _zone(meta.get("exchange_timezone") or default_timezone)
    candles: dict[datetime, Candle] = {}
    try:
        for row in body["values"]:
            ts = _parse_datetime(row["datetime"], zone)
            volume = row.get("volume")
            candles[ts] = Candle(
                symbol=symbol,
                interval=interval,
                ts=ts,
                open=_decimal(row["open"], "open"),
                high=_decimal(row["high"], "high"),
                low=_decimal(row["low"], "low"),
                close=_decimal(row["close"], "close"),
                volume=_decimal(volume, "volume") if volume not in (None, "") else None,
            )
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedResponseError(f"bad time series value ({exc!r})", provider=PROVIDER) from exc
    return [candles[ts] for ts in sorted(candles)]


def _format_bound(value: date, *, daily: bool, zone: ZoneInfo) -> str:
    """A start/end bound as Twelve Data reads it: local time of the instrument's exchange."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("time series bounds must be timezone-aware datetimes or dates")
        local = value.astimezone(zone)
        return local.date().isoformat() if daily else local.strftime("%Y-%m-%d %H:%M:%S")
    return value.isoformat()


class TimeSeries(list[Candle]):
    """Candles, oldest first, plus the exchange time zone the response declared (None: UTC)."""

    exchange_timezone: str | None = None


class TwelveDataAdapter:
    """One method per Twelve Data endpoint walletsync uses; returns normalized types."""

    def __init__(self, transport: JsonTransport) -> None:
        self._transport = transport

    async def exchanges(self) -> list[ExchangeInfo]:
        """Stock exchanges (`/exchanges`): name, MIC code, country, time zone."""
        rows = _data(await self._transport.get_json("/exchanges"))
        return [
            ExchangeInfo(
                kind="stock",
                name=str(row["name"]),
                code=row.get("code") or None,
                country=row.get("country") or None,
                timezone=row.get("timezone") or None,
            )
            for row in rows
            if row.get("name")
        ]

    async def crypto_exchanges(self) -> list[ExchangeInfo]:
        """Cryptocurrency exchanges (`/cryptocurrency_exchanges`): names only."""
        rows = _data(await self._transport.get_json("/cryptocurrency_exchanges"))
        return [ExchangeInfo(kind="crypto", name=str(row["name"])) for row in rows if row.get("name")]

    async def cryptocurrencies(self, *, currency_quote: str | None = None) -> list[InstrumentInfo]:
        """Crypto pairs (`/cryptocurrencies`), optionally only those quoted in `currency_quote` (e.g. "USD").

        `currency_base`/`currency_quote` are the codes from the symbol ("BTC", "USD"); the API's
        full names ("Bitcoin", "US Dollar") form `name` and stay in `metadata`.
        """
        params = {"currency_quote": currency_quote} if currency_quote else None
        rows = _data(await self._transport.get_json("/cryptocurrencies", params=params))
        instruments = []
        for row in rows:
            symbol = str(row.get("symbol") or "")
            base, _, quote = symbol.partition("/")
            if not base or not quote:
                continue
            base_name, quote_name = row.get("currency_base"), row.get("currency_quote")
            instruments.append(
                InstrumentInfo(
                    kind="crypto",
                    symbol=symbol,
                    name=f"{base_name} / {quote_name}" if base_name and quote_name else symbol,
                    currency_base=base,
                    currency_quote=quote,
                    instrument_type="Digital Currency",
                    metadata={
                        "currency_base_name": base_name,
                        "currency_quote_name": quote_name,
                        "available_exchanges": list(row.get("available_exchanges") or ()),
                    },
                )
            )
        return instruments

    async def stocks(
        self, *, exchange: str | None = None, country: str | None = None
    ) -> list[InstrumentInfo]:
        """Stocks (`/stocks`), optionally of one exchange (name, e.g. "NASDAQ") or country."""
        params = {k: v for k, v in (("exchange", exchange), ("country", country)) if v}
        rows = _data(await self._transport.get_json("/stocks", params=params or None))
        return [
            InstrumentInfo(
                kind="stock",
                symbol=str(row["symbol"]),
                name=row.get("name") or None,
                exchange=str(row.get("exchange") or ""),
                currency_quote=row.get("currency") or None,
                country=row.get("country") or None,
                instrument_type=row.get("type") or None,
                metadata={k: row[k] for k in ("mic_code", "figi_code", "isin", "cusip") if row.get(k)},
            )
            for row in rows
            if row.get("symbol")
        ]

    async def time_series(
        self,
        symbol: str,
        interval: str,
        *,
        start: date | None = None,
        end: date | None = None,
        outputsize: int = MAX_OUTPUTSIZE,
        exchange_timezone: str | None = None,
    ) -> list[Candle]:
        """Candles of `symbol` at `interval` ("1min" ... "1month"), OLDEST FIRST, bar starts in UTC.

        One request (1 credit) for the LATEST `outputsize` (max 5000) candles in `[start, end)`:
        `start` is inclusive, `end` exclusive, and Twelve Data truncates from the OLD end. So a full
        page whose first candle is after `start` leaves older candles unread: read them by calling
        again with `end` = that first candle's `ts` (paging backwards). Without bounds: the latest
        `outputsize` candles. An empty range returns [] (the API reports it as a 400).

        Bounds are aware datetimes or dates. Twelve Data reads them in the instrument's local time:
        UTC for crypto and forex, the exchange's zone for stocks, which the caller passes as
        `exchange_timezone` (IANA name, e.g. from the `exchanges` catalog; None means UTC). Values
        come back in that local time (`meta.exchange_timezone`) and are converted to UTC.
        """
        daily = interval in DAILY_INTERVALS
        try:
            zone = ZoneInfo(exchange_timezone or "UTC")
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {exchange_timezone!r}") from exc
        params: dict[str, str | int] = {
            "symbol": symbol,
            "interval": interval,
            "outputsize": max(1, min(outputsize, MAX_OUTPUTSIZE)),
        }
        if start is not None:
            params["start_date"] = _format_bound(start, daily=daily, zone=zone)
        if end is not None:
            params["end_date"] = _format_bound(end, daily=daily, zone=zone)
        try:
            body = await self._transport.get_json("/time_series", params=params, cost=1)
        except UpstreamBadRequestError as exc:
            if NO_DATA_MESSAGE.lower() in exc.detail.lower():
                return []
            raise
        series = TimeSeries(
            parse_time_series(body, symbol=symbol, interval=interval, default_timezone=exchange_timezone)
        )
        meta = body.get("meta") if isinstance(body, Mapping) else None
        declared = meta.get("exchange_timezone") if isinstance(meta, Mapping) else None
        series.exchange_timezone = declared if isinstance(declared, str) and declared else None
        return series
