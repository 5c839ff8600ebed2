"""Leaderboards: the top wallets by portfolio value, or by activity (transactions in the last 24 h / 7 d).

Each board is one SQL query, per chain or over all chains. The value board reads `current_balances`
(not the history of deltas) and the activity board an index on `wallet_transactions.block_time`, so
neither grows with the number of transactions stored. The value board prices balances with each
instrument's price now (`market.price_at`: the latest close of a bar that has ended, the same rule
as `valuation`), exactly: `amount * close * 1e-decimals` is
numeric multiplication, no division rounding; unpriced holdings are left out of the score and counted
in `unpriced_assets`. The API caches boards for `WALLETSYNC_CACHE_TTL_LEADERBOARD` seconds (a board is a
ranking, not a balance: a minute of staleness is fine and it spares the database a full aggregate).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import Numeric, and_, cast, func, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection

from walletsync.config import Chain
from walletsync.db.models import (
    asset_prices,
    assets,
    current_balances,
    instruments,
    wallet_transactions,
    wallets,
)
from walletsync.market.price_at import close_at


class LeaderboardKind(StrEnum):
    VALUE = "value"
    ACTIVITY_24H = "activity_24h"
    ACTIVITY_7D = "activity_7d"


ACTIVITY_WINDOWS = {
    LeaderboardKind.ACTIVITY_24H: timedelta(hours=24),
    LeaderboardKind.ACTIVITY_7D: timedelta(days=7),
}


@dataclass(frozen=True, slots=True)
class LeaderboardEntry:
    rank: int
    wallet_id: int
    chain: str
    address: str
    label: str | None
    score: Decimal  # value in the quote currency, or a transaction count
    unpriced_assets: int = 0


@dataclass(frozen=True, slots=True)
class Leaderboard:
    kind: LeaderboardKind
    chain: str | None
    quote: str | None  # value boards only
    since: datetime | None  # activity boards only
    computed_at: datetime
    entries: list[LeaderboardEntry]


def value_query(*, chain: str | None, quote: str, limit: int) -> Any:
    """Top wallets by priced holdings: one statement (balances, latest closes, ranking)."""
    # Current balances (kept by the database with the deltas): O(wallets x assets held), not O(history).
    bal = (
        select(current_balances.c.wallet_id, current_balances.c.asset_id, current_balances.c.amount)
        .where(current_balances.c.amount != 0)
        .cte("bal")
    )
    linked = select(asset_prices.c.instrument_id).distinct().subquery("linked")
    # The price now: the close of the latest bar that has ended (finer interval on a tie).
    last_bar = close_at(linked.c.instrument_id, None)
    closes = (
        select(linked.c.instrument_id, last_bar.c.close)
        .select_from(linked.join(last_bar, literal(True)))
        .cte("closes")
    )
    priced = and_(
        closes.c.close.is_not(None),
        assets.c.decimals.is_not(None),
        func.upper(instruments.c.currency_quote) == quote,
    )
    # 1e-<decimals> parses exactly; power(10, -d) would round to 16 places.
    scale = cast(func.concat("1e-", assets.c.decimals), Numeric)
    value = func.coalesce(func.sum(bal.c.amount * closes.c.close * scale).filter(priced), literal(0, Numeric))
    unpriced = func.count().filter(~func.coalesce(priced, False))
    query = (
        select(
            wallets.c.id,
            wallets.c.chain,
            wallets.c.address,
            wallets.c.label,
            value.label("score"),
            unpriced.label("unpriced"),
        )
        .select_from(bal)
        .join(wallets, wallets.c.id == bal.c.wallet_id)
        .join(assets, assets.c.id == bal.c.asset_id)
        .outerjoin(asset_prices, asset_prices.c.asset_id == bal.c.asset_id)
        .outerjoin(instruments, instruments.c.id == asset_prices.c.instrument_id)
        .outerjoin(closes, closes.c.instrument_id == asset_prices.c.instrument_id)
        .group_by(wallets.c.id)
        .order_by(value.desc(), wallets.c.id)
        .limit(limit)
    )
    return query if chain is None else query.where(wallets.c.chain == chain)


def activity_query(*, chain: str | None, since: datetime, limit: int) -> Any:
    """Top wallets by transactions seen since `since`: one grouped count."""
    count = func.count().label("score")
    query = (
        select(wallets.c.id, wallets.c.chain, wallets.c.address, wallets.c.label, count)
        .select_from(wallet_transactions)
        .join(wallets, wallets.c.id == wallet_transactions.c.wallet_id)
        .where(wallet_transactions.c.block_time > since)
        .group_by(wallets.c.id)
        .order_by(count.desc(), wallets.c.id)
        .limit(limit)
    )
    if chain is not None:
        query = query.where(wallet_transactions.c.chain == chain)
    return query


async def leaderboard(
    conn: AsyncConnection,
    *,
    kind: LeaderboardKind | str = LeaderboardKind.VALUE,
    chain: Chain | str | None = None,
    limit: int = 10,
    quote: str = "USD",
    now: datetime | None = None,
) -> Leaderboard:
    """The top `limit` wallets of one board, per chain or over all chains (`chain=None`)."""
    kind = LeaderboardKind(kind)
    chain_value = Chain(chain).value if chain is not None else None
    computed_at = now or datetime.now(UTC)
    since = None
    if kind is LeaderboardKind.VALUE:
        query = value_query(chain=chain_value, quote=quote.upper(), limit=limit)
    else:
        since = computed_at - ACTIVITY_WINDOWS[kind]
        query = activity_query(chain=chain_value, since=since, limit=limit)
    rows = (await conn.execute(query)).all()
    entries = [
        LeaderboardEntry(
            rank=rank,
            wallet_id=r.id,
            chain=r.chain,
            address=r.address,
            label=r.label,
            score=Decimal(r.score),
            unpriced_assets=getattr(r, "unpriced", 0) or 0,
        )
        for rank, r in enumerate(rows, start=1)
    ]
    return Leaderboard(
        kind=kind,
        chain=chain_value,
        quote=quote.upper() if kind is LeaderboardKind.VALUE else None,
        since=since,
        computed_at=computed_at,
        entries=entries,
    )
