"""Same-origin JSON for the dashboard's charts (session cookie, not an API key).

Chart points carry floats: they only draw lines, while amounts and values shown as text come from
exact `Decimal`s on the server. Times are Unix seconds (bar start), as lightweight-charts expects.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.responses import JSONResponse, Response

from walletsync.market.candles import bars, find_instrument, latest_priced_bar_ts
from walletsync.portfolio.series import ValueSeries, wallets_value_series
from walletsync.web import views
from walletsync.web.auth import SessionDep, WebStateDep
from walletsync.web.pages import IntervalParam, ModeParam, RangeParam, ScopeParam
from walletsync.web.render import PAGE_HEADERS

router = APIRouter(prefix="/web/data", include_in_schema=False)

MAX_BARS = 2000


def _points(series: ValueSeries) -> list[dict[str, Any]]:
    return [{"time": int(p.ts.timestamp()), "value": float(p.value)} for p in series.points]


def stack(
    series: list[tuple[str, list[dict[str, Any]]]], times: list[int]
) -> list[tuple[str, list[dict[str, Any]]]]:
    """Running sums over the wallets at every time of the total: wallet k's points are the sum of
    wallets 1..k, so areas drawn top-down stack. A wallet without a point at a time keeps its last
    value (0 before its first priced bar)."""
    running = dict.fromkeys(times, 0.0)
    stacked = []
    for label, points in series:
        at = {p["time"]: p["value"] for p in points}
        last = 0.0
        out = []
        for t in times:
            last = at.get(t, last)
            running[t] += last
            out.append({"time": t, "value": running[t]})
        stacked.append((label, out))
    return stacked


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@router.get("/value-series")
async def value_series(
    state: WebStateDep,
    _: SessionDep,
    scope: ScopeParam = "all",
    interval: IntervalParam = None,
    range_key: RangeParam = views.DEFAULT_RANGE,
    mode: ModeParam = "lines",
) -> Response:
    """The total value of the scope's wallets at each bar close in the range, and per wallet unless
    `mode=total`: each wallet's own line (`lines`), or running sums to draw as stacked areas (`stacked`)."""
    quote = state.settings.quote_currency.upper()
    name = interval or "1day"
    async with state.db.read() as conn:
        start, end = views.series_window(range_key, latest=await latest_priced_bar_ts(conn, name))
        wallets, _truncated = await views.all_wallets(conn)
        chosen = views.select_wallets(wallets, scope)
        total = await wallets_value_series(
            conn, [w.id for w in chosen], interval=name, quote=quote, start=start, end=end
        )
        per_wallet = []
        if mode != "total" and len(chosen) > 1:
            for w in chosen:
                one = await wallets_value_series(
                    conn, [w.id], interval=name, quote=quote, start=start, end=end
                )
                per_wallet.append((w.label or w.address[:10], _points(one)))
    times = [p["time"] for p in _points(total)]
    lines = [
        {"label": label, "points": points}
        for label, points in (stack(per_wallet, times) if mode == "stacked" else per_wallet)
    ]
    body = {
        "quote": quote,
        "interval": name,
        "from": _iso(start),
        "to": _iso(end),
        "total": _points(total),
        "mode": mode,
        "wallets": lines,
    }
    return JSONResponse(body, headers=PAGE_HEADERS)


def _num(value: Decimal | None) -> float | None:
    return float(value) if value is not None else None


@router.get("/candles")
async def candles(
    state: WebStateDep,
    _: SessionDep,
    symbol: Annotated[str, Query(min_length=1, max_length=64)],
    interval: IntervalParam = None,
) -> Response:
    """The latest `MAX_BARS` stored bars of a symbol: OHLC and volume."""
    name = interval or (state.settings.price_intervals or ["1day"])[0]
    async with state.db.read() as conn:
        instrument = await find_instrument(conn, symbol)
        rows = await bars(conn, instrument.id, name, limit=MAX_BARS) if instrument is not None else []
    body = {
        "symbol": instrument.symbol if instrument is not None else symbol,
        "interval": name,
        "bars": [
            {
                "time": int(b.ts.timestamp()),
                "open": float(b.open),
                "high": float(b.high),
                "low": float(b.low),
                "close": float(b.close),
                "volume": _num(b.volume),
            }
            for b in rows
        ],
    }
    return JSONResponse(body, headers=PAGE_HEADERS)
