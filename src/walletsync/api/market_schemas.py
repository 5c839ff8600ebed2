"""Response schemas of the market data, valuation and leaderboard routes.

Prices and values are exact decimal strings (`"602.9312835790"`): JSON numbers are floats and would
round them. Amounts are base-unit integer strings with `decimals` beside them, as everywhere.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, Field

from walletsync.api.schemas import AmountStr, BalanceKind
from walletsync.config import Chain

DecimalStr = Annotated[str, Field(pattern=r"^-?[0-9]+(\.[0-9]+)?$", examples=["602.93128357"])]


def decimal_str(value: Decimal) -> str:
    """A Decimal as a plain (never exponent) string without trailing zeros."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


class PositionOut(BaseModel):
    asset_id: int
    asset_key: str
    symbol: str | None
    decimals: int | None
    amount: AmountStr
    price: DecimalStr = Field(description="The close that priced it, in the quote currency.")
    price_symbol: str = Field(description="The instrument, e.g. SOL/USD.")
    price_ts: datetime = Field(description="Start of the bar whose close this is.")
    value: DecimalStr
    kind: BalanceKind = "liquid"


class UnpricedOut(BaseModel):
    asset_id: int
    asset_key: str
    symbol: str | None
    decimals: int | None
    amount: AmountStr
    reason: str | None = Field(
        description="Why it has no value: no price link, unknown decimals, no bar yet."
    )
    kind: BalanceKind = "liquid"


class UnpricedHoldingOut(BaseModel):
    asset_id: int
    symbol: str | None
    amount: AmountStr


class ValuePointOut(BaseModel):
    ts: datetime = Field(description="Start of the bar; balances are as of its close.")
    value: DecimalStr = Field(
        description="Sum of the priced holdings; unpriced ones are listed, not counted."
    )
    unpriced: list[UnpricedHoldingOut]


class ValueSeriesOut(BaseModel):
    interval: str
    start: datetime | None = Field(alias="from")
    end: datetime | None = Field(alias="to")
    points: list[ValuePointOut]

    model_config = {"populate_by_name": True}


class WalletValueOut(BaseModel):
    wallet_id: int
    chain: Chain
    address: str
    label: str | None
    quote: str
    at: datetime | None = Field(description="The point in time asked for (`at=`), or null for now.")
    total: DecimalStr | None = Field(
        description="Value of the priced holdings only; null when there are holdings and none of them is priced (a sum of nothing is not a value of 0)."
    )
    complete: bool = Field(
        description="False when some holdings are unpriced (then `total` leaves them out)."
    )
    positions: list[PositionOut]
    unpriced: list[UnpricedOut]
    series: ValueSeriesOut | None = Field(description="Present when `interval`, `from` or `to` is given.")


class GroupWalletOut(BaseModel):
    wallet_id: int
    chain: Chain
    address: str
    label: str | None
    total: DecimalStr | None = Field(
        description="Value of the priced holdings only; null when there are holdings and none of them is priced (a sum of nothing is not a value of 0)."
    )
    complete: bool
    unpriced: list[UnpricedOut]


class GroupValueOut(BaseModel):
    group: str
    quote: str
    at: datetime | None
    total: DecimalStr | None = Field(
        description="Value of the priced holdings only; null when there are holdings and none of them is priced (a sum of nothing is not a value of 0)."
    )
    complete: bool
    wallets: list[GroupWalletOut]
    series: ValueSeriesOut | None


class LeaderboardEntryOut(BaseModel):
    rank: int
    wallet_id: int
    chain: Chain
    address: str
    label: str | None
    score: DecimalStr | None = Field(
        description="Value in the quote currency, or a transaction count. Null on a value board when"
        " the wallet holds nothing priced (its value is unknown, e.g. before the first price sync);"
        " such wallets rank after every wallet with a value, negative values included."
    )
    unpriced_assets: int = Field(description="Holdings left out of a value score (value boards).")


class LeaderboardOut(BaseModel):
    kind: str
    chain: Chain | None
    quote: str | None
    since: datetime | None = Field(description="Start of the activity window (activity boards).")
    computed_at: datetime = Field(description="When the board was computed (boards are cached briefly).")
    entries: list[LeaderboardEntryOut]


class AssetOut(BaseModel):
    id: int
    chain: Chain
    asset_key: str
    symbol: str | None
    name: str | None
    decimals: int | None
    price_symbol: str | None = Field(description="The instrument that prices it; null when unpriced.")
    quote: str | None
    price: DecimalStr | None = Field(description="Latest close; null when unpriced (never 0).")
    price_ts: datetime | None
    priced: bool


class BarOut(BaseModel):
    ts: datetime = Field(description="Start of the bar, UTC.")
    open: DecimalStr
    high: DecimalStr
    low: DecimalStr
    close: DecimalStr
    volume: DecimalStr | None


class PricesOut(BaseModel):
    symbol: str
    name: str | None
    kind: str
    exchange: str
    quote: str | None
    interval: str
    bars: list[BarOut] = Field(description="Oldest first.")


class ExchangeOut(BaseModel):
    id: int
    kind: str
    name: str
    code: str
    country: str | None
    timezone: str | None
