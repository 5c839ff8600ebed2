"""What wallets are worth: a wallet or a group now, or at a time.

Value = balance in base units / 10**decimals times the close of the asset's instrument (`asset_prices`),
exact `Decimal`s throughout. An asset held with no decimals, no price link, a price in another quote
currency, or no bar yet is *unpriced*: listed apart with the reason and left out of the total (never
counted as 0); `complete` says whether the total covers every asset held.

Series (a value at each bar close) are in `portfolio.series`.

Staking lines (`kind` staked / rewards, `portfolio.balances`) are priced as the chain's native asset
and count in every total. They are a snapshot of the last observed state, not history: a value at a
time counts a staking line, at its current amount, from its `observed_at` on (when its stake account
or stake address was first seen), not before.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncConnection

from walletsync.config import Chain
from walletsync.db.models import asset_prices, candles, instruments, wallets
from walletsync.errors import NotFoundError
from walletsync.market.candles import PricePoint, latest_closes
from walletsync.portfolio.balances import Balance, wallet_balances, wallets_balances
from walletsync.wallets.repository import WalletRow, get_wallet


class GroupNotFoundError(NotFoundError):
    title = "Wallet group not found"


@dataclass(frozen=True, slots=True)
class Position:
    asset_id: int
    chain: str
    asset_key: str
    symbol: str | None
    name: str | None
    decimals: int | None
    amount: int  # base units
    price: Decimal | None = None
    price_symbol: str | None = None
    price_ts: datetime | None = None  # start of the bar whose close priced it
    value: Decimal | None = None
    unpriced_reason: str | None = None
    kind: str = "liquid"  # liquid | staked | rewards (`portfolio.balances`)

    @property
    def priced(self) -> bool:
        return self.value is not None


@dataclass(frozen=True, slots=True)
class WalletValue:
    wallet_id: int
    chain: str
    address: str
    label: str | None
    quote: str
    at: datetime | None
    total: Decimal
    positions: list[Position]  # priced ones, largest value first
    unpriced: list[Position]

    @property
    def complete(self) -> bool:
        return not self.unpriced


@dataclass(frozen=True, slots=True)
class GroupValue:
    group: str
    quote: str
    at: datetime | None
    total: Decimal
    wallets: list[WalletValue]

    @property
    def complete(self) -> bool:
        return all(w.complete for w in self.wallets)


def to_units(amount: int, decimals: int) -> Decimal:
    return Decimal(amount).scaleb(-decimals)


@dataclass(frozen=True, slots=True)
class _Link:
    instrument_id: int
    symbol: str
    quote: str | None


async def _links(conn: AsyncConnection, asset_ids: Sequence[int]) -> dict[int, _Link]:
    if not asset_ids:
        return {}
    rows = await conn.execute(
        select(asset_prices.c.asset_id, instruments.c.id, instruments.c.symbol, instruments.c.currency_quote)
        .join(instruments, instruments.c.id == asset_prices.c.instrument_id)
        .where(asset_prices.c.asset_id.in_(sorted(set(asset_ids))))
    )
    return {r.asset_id: _Link(r.id, r.symbol, r.currency_quote) for r in rows}


@dataclass(frozen=True, slots=True)
class _Prices:
    """The price links and closes of a set of assets, read once for any number of wallets."""

    links: dict[int, _Link]
    closes: dict[int, PricePoint]
    synced: bool = True  # False: no price sync has stored anything yet (links are made by it)


async def _prices(conn: AsyncConnection, balances: Iterable[Balance], *, at: datetime | None) -> _Prices:
    links = await _links(conn, [b.asset_id for b in balances])
    closes = await latest_closes(conn, [link.instrument_id for link in links.values()], at=at)
    # No link at all may just mean a fresh install: say that, not "no price source linked".
    synced = bool(links) or bool(await conn.scalar(select(exists().select_from(candles))))
    return _Prices(links, closes, synced)


def _price_balances(
    balances: Sequence[Balance], prices: _Prices, *, quote: str, at: datetime | None
) -> tuple[list[Position], list[Position]]:
    priced: list[Position] = []
    unpriced: list[Position] = []
    for b in balances:
        link = prices.links.get(b.asset_id)
        point = prices.closes.get(link.instrument_id) if link else None
        reason = None
        if link is None and not prices.synced:
            reason = "no prices synced yet (`walletsync prices sync`, or a running worker, fetches them)"
        elif link is None:
            reason = "no price source linked to this asset"
        elif (link.quote or "").upper() != quote:
            reason = f"{link.symbol} is quoted in {link.quote or 'an unknown currency'}, not {quote}"
        elif point is None:
            reason = f"no {link.symbol} price stored" + (f" at or before {at.isoformat()}" if at else "")
        elif b.decimals is None:
            reason = "the asset's decimals are unknown"
        chain = b.chain.value
        if reason is not None or link is None or point is None or b.decimals is None:
            unpriced.append(
                Position(
                    b.asset_id,
                    chain,
                    b.asset_key,
                    b.symbol,
                    b.name,
                    b.decimals,
                    b.amount,
                    unpriced_reason=reason,
                    kind=b.kind,
                )
            )
            continue
        # Positional construction, not dataclasses.replace: a 100-wallet group prices ~1,000 of these.
        value = to_units(b.amount, b.decimals) * point.close
        priced.append(
            Position(
                b.asset_id,
                chain,
                b.asset_key,
                b.symbol,
                b.name,
                b.decimals,
                b.amount,
                point.close,
                link.symbol,
                point.ts,
                value,
                None,
                b.kind,
            )
        )
    priced.sort(key=lambda p: (-(p.value or 0), p.asset_id))
    return priced, unpriced


def _wallet_value(
    wallet: WalletRow, balances: Sequence[Balance], prices: _Prices, *, quote: str, at: datetime | None
) -> WalletValue:
    priced, unpriced = _price_balances(balances, prices, quote=quote, at=at)
    return WalletValue(
        wallet_id=wallet.id,
        chain=wallet.chain.value,
        address=wallet.address,
        label=wallet.label,
        quote=quote,
        at=at,
        total=sum((p.value for p in priced if p.value is not None), Decimal(0)),
        positions=priced,
        unpriced=unpriced,
    )


async def wallet_value(
    conn: AsyncConnection, wallet_id: int, *, quote: str = "USD", at: datetime | None = None
) -> WalletValue:
    """The wallet's value in `quote` now or at `at`: balances then, priced by `market.price_at`."""
    quote = quote.upper()
    wallet = await get_wallet(conn, wallet_id)
    balances = await wallet_balances(conn, wallet_id, at=at)
    return _wallet_value(wallet, balances, await _prices(conn, balances, at=at), quote=quote, at=at)


async def group_wallets(conn: AsyncConnection, group: str) -> list[WalletRow]:
    rows = (
        await conn.execute(select(wallets).where(wallets.c.group_name == group).order_by(wallets.c.id))
    ).all()
    if not rows:
        raise GroupNotFoundError(f"no wallet is in group {group!r} (add one with `wallets add --group`)")
    return [WalletRow(r.id, Chain(r.chain), r.address, r.label, r.group_name, r.created_at) for r in rows]


async def group_wallet_ids(conn: AsyncConnection, group: str) -> list[int]:
    return [wallet.id for wallet in await group_wallets(conn, group)]


async def group_value(
    conn: AsyncConnection, group: str, *, quote: str = "USD", at: datetime | None = None
) -> GroupValue:
    """The total of a wallet group (`wallets.group_name`), with each wallet's own valuation.

    Four queries whatever the group's size: its wallets, their balances, the assets' price links,
    the latest closes.
    """
    quote = quote.upper()
    members = await group_wallets(conn, group)
    balances = await wallets_balances(conn, [w.id for w in members], at=at)
    prices = await _prices(conn, (b for held in balances.values() for b in held), at=at)
    values = [_wallet_value(w, balances.get(w.id, []), prices, quote=quote, at=at) for w in members]
    return GroupValue(
        group=group,
        quote=quote,
        at=at,
        total=sum((v.total for v in values), Decimal(0)),
        wallets=values,
    )
