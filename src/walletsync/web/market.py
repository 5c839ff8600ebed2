"""The market terminal: stored series, catalog search, and a candlestick chart with volume, last price
and change, all from the database (`walletsync prices sync` fills it; this page never calls a provider)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from walletsync.market.candles import Bar, SymbolSummary, bars, search_instruments, stored_series
from walletsync.market.catalog import search_exchanges
from walletsync.web.auth import SessionDep, WebStateDep
from walletsync.web.pages import IntervalParam, base_context
from walletsync.web.render import page

router = APIRouter(prefix="/web", include_in_schema=False)

SearchText = Annotated[str, Query(max_length=64)]


@dataclass(frozen=True, slots=True)
class Quote:
    last: Bar
    change: Decimal | None  # last close minus the previous bar's close
    change_pct: Decimal | None


def _quote(rows: list[Bar]) -> Quote | None:
    if not rows:
        return None
    last = rows[-1]
    if len(rows) < 2 or not rows[-2].close:
        return Quote(last, None, None)
    change = last.close - rows[-2].close
    return Quote(last, change, change / rows[-2].close * 100)


def _pick(series: list[SymbolSummary], symbol: str | None, interval: str | None) -> SymbolSummary | None:
    wanted = [s for s in series if symbol is None or s.instrument.symbol.upper() == symbol.strip().upper()]
    if interval is not None:
        wanted = [s for s in wanted if s.interval == interval] or wanted
    return wanted[0] if wanted else None


@router.get("/market")
async def market_page(
    request: Request,
    state: WebStateDep,
    session: SessionDep,
    symbol: Annotated[str | None, Query(max_length=64)] = None,
    interval: IntervalParam = None,
    q: SearchText = "",
) -> Response:
    async with state.db.read() as conn:
        series = await stored_series(conn)
        chosen = _pick(series, symbol, interval)
        recent = await bars(conn, chosen.instrument.id, chosen.interval, limit=2) if chosen else []
        found = await search_instruments(conn, q) if q else []
    intervals = sorted({s.interval for s in series if chosen and s.instrument.id == chosen.instrument.id})
    symbols = sorted({s.instrument.symbol for s in series})
    return page(
        request,
        "market.html",
        base_context(
            session,
            "market",
            series=series,
            chosen=chosen,
            quote=_quote(recent),
            symbols=symbols,
            intervals=intervals,
            q=q,
            found=found,
            stored={s.instrument.id for s in series},
        ),
    )


@router.get("/market/search")
async def market_search(request: Request, state: WebStateDep, _: SessionDep, q: SearchText = "") -> Response:
    """Catalog search results (instruments and exchanges whose name or symbol contains `q`)."""
    async with state.db.read() as conn:
        series = await stored_series(conn)
        found = await search_instruments(conn, q) if q.strip() else []
        exchanges = await search_exchanges(conn, q)
    return page(
        request,
        "partials/search.html",
        {"q": q, "found": found, "exchanges": exchanges, "stored": {s.instrument.id for s in series}},
    )
