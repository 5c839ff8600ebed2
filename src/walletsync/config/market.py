"""Price settings: which intervals and symbols are synced, the quote currency, how much history, how
tokens map to price symbols, and which crypto quotes and stock exchanges the catalogs keep.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, Field, field_validator

from walletsync.config.fields import CommaList, alias, split_commas
from walletsync.errors import ConfigError

# Shapes of the list settings' items, checked at start (a typo fails the process, not a job hours later).
_SYMBOL = re.compile(r"[A-Za-z0-9.:_-]+(/[A-Za-z0-9._-]+)?")
_CURRENCY = re.compile(r"[A-Za-z]{2,10}")
_EXCHANGE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._-]*")


class MarketSettings(BaseModel):
    """`WALLETSYNC_PRICE_*`, `WALLETSYNC_QUOTE_CURRENCY`."""

    price_intervals: CommaList = Field(
        default_factory=lambda: ["1h", "1day"], validation_alias=alias("WALLETSYNC_PRICE_INTERVALS")
    )
    price_symbols: CommaList = Field(
        default_factory=lambda: ["SOL/USD", "ADA/USD"], validation_alias=alias("WALLETSYNC_PRICE_SYMBOLS")
    )
    quote_currency: str = Field(default="USD", validation_alias=alias("WALLETSYNC_QUOTE_CURRENCY"))
    price_history_days: int = Field(
        default=90, ge=1, le=3650, validation_alias=alias("WALLETSYNC_PRICE_HISTORY_DAYS")
    )
    price_asset_map: CommaList = Field(
        default_factory=list, validation_alias=alias("WALLETSYNC_PRICE_ASSET_MAP")
    )
    price_crypto_quotes: CommaList = Field(
        default_factory=lambda: ["USD"], validation_alias=alias("WALLETSYNC_PRICE_CRYPTO_QUOTES")
    )
    price_stock_exchanges: CommaList = Field(
        default_factory=list, validation_alias=alias("WALLETSYNC_PRICE_STOCK_EXCHANGES")
    )

    @field_validator(
        "price_intervals",
        "price_symbols",
        "price_asset_map",
        "price_crypto_quotes",
        "price_stock_exchanges",
        mode="before",
    )
    @classmethod
    def _split_price_lists(cls, value: object) -> object:
        return split_commas(value)

    @field_validator("price_intervals")
    @classmethod
    def _known_intervals(cls, value: list[str]) -> list[str]:
        from walletsync.market.intervals import INTERVALS

        if not value:
            raise ValueError(f"needs at least one interval ({', '.join(INTERVALS)})")
        for name in value:
            if name not in INTERVALS:
                raise ValueError(f"{name!r} is not an interval; use {', '.join(INTERVALS)}")
        return value

    @field_validator("price_symbols")
    @classmethod
    def _symbols(cls, value: list[str]) -> list[str]:
        for symbol in value:
            if not _SYMBOL.fullmatch(symbol):
                raise ValueError(f"{symbol!r} is not a symbol (BASE/QUOTE such as SOL/USD, or a ticker)")
        return value

    @field_validator("price_crypto_quotes")
    @classmethod
    def _currencies(cls, value: list[str]) -> list[str]:
        for code in value:
            if not _CURRENCY.fullmatch(code):
                raise ValueError(f"{code!r} is not a currency code (such as USD)")
        return value

    @field_validator("quote_currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        if not _CURRENCY.fullmatch(value.strip()):
            raise ValueError(f"{value!r} is not a currency code (such as USD)")
        return value.strip()

    @field_validator("price_stock_exchanges")
    @classmethod
    def _exchanges(cls, value: list[str]) -> list[str]:
        for name in value:
            if not _EXCHANGE.fullmatch(name):
                raise ValueError(f"{name!r} is not an exchange name (such as NASDAQ)")
        return value

    @field_validator("price_asset_map")
    @classmethod
    def _asset_map(cls, value: list[str]) -> list[str]:
        from walletsync.market.links import parse_price_rule

        for entry in value:
            try:
                parse_price_rule(entry)
            except ConfigError as exc:  # its message starts with the variable's name: keep the rest
                raise ValueError(exc.detail.partition(": ")[2]) from None
        return value
