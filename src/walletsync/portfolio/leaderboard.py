"""Leaderboards: the top wallets by portfolio value, or by activity (transactions in the last 24 h / 7 d).

Each board is one SQL query, per chain or over all chains. The value board reads `current_balances`
(not the history of deltas) plus the staking snapshot (`staking_balances`: staked and rewards lines,
priced as the native asset), and the activity board an index on `wallet_transactions.block_time`, so
neither grows with the number of transactions stored. The value board prices balances with each
instrument's price now (`market.price_at`: the latest close of a bar that has ended, the same rule
as `valuation`), exactly: `amount * close * 1e-decimals` is numeric multiplication, no division
rounding; unpriced holdings are left out of the score and counted in `unpriced_assets`.

Ranking of the value board: wallets with a known value (at least one priced holding) come first, by
value descending, negative values included; then wallets whose holdings are all unpriced, by wallet
id, with score `None` (unknown, never 0: on a fresh install with no prices synced yet, every wallet
is unknown, not worthless). A known value, even a negative one, ranks above an unknown one: the
board can only order what it can value. Wallets holding nothing are not on the board.

The API caches boards for `WALLETSYNC_CACHE_TTL_LEADERBOARD` seconds (a board is a ranking, not a
balance: a minute of staleness is fine and it spares the database a full aggregate).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import Numeric, cast, func, null, select, true, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from walletsync.config import Chain
from walletsync.db.models import (
    asset_prices,
    assets,
    current_balances,
    instruments,
    staking_balances,
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
    score: Decimal | None  # value in the quote currency (None: nothing held is priced), or a count
    unpriced_assets: int = 0


@dataclass(frozen=True, slots=True)
class Leaderboard:
    kind: LeaderboardKind
    chain: str | None
    quote: str | None  # value boards only
    since: datetime | None  # activity boards only
    computed_at: datetime
    entries: list[LeaderboardEntry]


def _unit_prices(*, chain: str | None, quote: str) -> Any:
    """(asset_id, unit): the value in `quote` of one base unit of each priced asset (a few rows)."""
    # The price now: the close of the latest bar that has ended (finer interval on a tie).
    last_close = close_at(asset_prices.c.instrument_id, None)
    # 1e-<decimals> parses exactly; power(10, -d) would round to 16 places.
    scale = cast(func.concat("1e-", assets.c.decimals), Numeric)
    query = (
        select(asset_prices.c.asset_id, (last_close.c.close * scale).label("unit"))
        .select_from(asset_prices)
        .join(instruments, instruments.c.id == asset_prices.c.instrument_id)
        .join(assets, assets.c.id == asset_prices.c.asset_id)
        .join(last_close, true())
        .where(func.upper(instruments.c.currency_quote) == quote, assets.c.decimals.is_not(None))
    )
    # An asset belongs to one chain and so do the wallets holding it: filtering the (few) priced
    # assets by chain filters the balances without joining wallets.
    return (query if chain is None else query.where(assets.c.chain == chain)).cte("prices")


def _holdings() -> Any:
    """(wallet_id, asset_id, amount): liquid balances and staking lines (staked, rewards) alike, so
    staking counts in the value as the native asset it is (a few rows per staking wallet)."""
    staking = staking_balances.c
    return union_all(
        select(current_balances.c.wallet_id, current_balances.c.asset_id, current_balances.c.amount),
        select(staking.wallet_id, staking.asset_id, staking.amount),
    ).subquery("holdings")


def _unpriced_count(prices: Any, wallet_id: Any) -> Any:
    held = _holdings().c
    return (
        select(func.count(held.asset_id.distinct()))
        .where(held.wallet_id == wallet_id, held.amount != 0, held.asset_id.not_in(select(prices.c.asset_id)))
        .scalar_subquery()
    )


def value_query(*, chain: str | None, quote: str, limit: int) -> Any:
    """Top wallets by priced holdings: one statement over the priced rows of `current_balances`.

    Only balances of priced assets are aggregated (a join on the few priced asset ids), then the
    unpriced holdings are counted for the `limit` winners alone. Wallets holding nothing priced
    have no known value and are not here: `unpriced_only_query` supplies them, ranked after these.
    """
    prices = _unit_prices(chain=chain, quote=quote)
    held = _holdings().c
    score = func.sum(held.amount * prices.c.unit)
    top = (
        select(held.wallet_id, score.label("score"))
        .join(prices, prices.c.asset_id == held.asset_id)
        .where(held.amount != 0)
        .group_by(held.wallet_id)
        .order_by(score.desc(), held.wallet_id)
        .limit(limit)
        .cte("top")
    )
    return (
        select(
            wallets.c.id,
            wallets.c.chain,
            wallets.c.address,
            wallets.c.label,
            top.c.score,
            _unpriced_count(prices, top.c.wallet_id).label("unpriced"),
        )
        .join(wallets, wallets.c.id == top.c.wallet_id)
        .order_by(top.c.score.desc(), wallets.c.id)
    )


def unpriced_only_query(*, chain: str | None, quote: str, limit: int) -> Any:
    """The first `limit` wallets (by id) holding something, none of it priced: score NULL (unknown)."""
    prices = _unit_prices(chain=chain, quote=quote)
    holdings = _holdings()
    held = holdings.c
    any_priced = (
        select(held.wallet_id)
        .join(prices, prices.c.asset_id == held.asset_id)
        .where(held.wallet_id == wallets.c.id, held.amount != 0)
        .exists()
    )
    holds = select(holdings).where(held.wallet_id == wallets.c.id, held.amount != 0).exists()
    query = (
        select(
            wallets.c.id,
            wallets.c.chain,
            wallets.c.address,
            wallets.c.label,
            null().label("score"),
            _unpriced_count(prices, wallets.c.id).label("unpriced"),
        )
        .where(holds, ~any_priced)
        .order_by(wallets.c.id)
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
    rows: list[Any] = list((await conn.execute(query)).all())
    if kind is LeaderboardKind.VALUE and len(rows) < limit:
        # Wallets holding only unpriced assets have no known value: they rank after every priced
        # wallet (negative ones included), so they fill only the places the priced ones leave.
        query = unpriced_only_query(chain=chain_value, quote=quote.upper(), limit=limit - len(rows))
        rows += list((await conn.execute(query)).all())
    entries = [
        LeaderboardEntry(
            rank=rank,
            wallet_id=r.id,
            chain=r.chain,
            address=r.address,
            label=r.label,
            score=None if r.score is None else Decimal(r.score),
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
