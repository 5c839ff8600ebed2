"""Which instrument prices which asset (`asset_prices`), and the listing of assets with their prices.

Native SOL and ADA are priced by `SOL/<QUOTE>` and `ADA/<QUOTE>`; tokens by `WALLETSYNC_PRICE_ASSET_MAP` entries
(`chain:asset_key=SYMBOL`, e.g. `solana:EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v=USDC/USD`). An asset
with no link, or whose instrument has no bar yet, is *unpriced*: valuation lists it apart and never
counts it as 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import and_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from walletsync.config import Chain, Settings
from walletsync.db.models import asset_prices, assets, instruments
from walletsync.errors import ConfigError
from walletsync.market.candles import find_instrument, latest_closes, normalize_symbol
from walletsync.providers.types import NATIVE


@dataclass(frozen=True, slots=True)
class NativeCoin:
    symbol: str
    name: str
    decimals: int


NATIVE_COINS = {
    Chain.SOLANA: NativeCoin("SOL", "Solana", 9),
    Chain.CARDANO: NativeCoin("ADA", "Cardano", 6),
}


@dataclass(frozen=True, slots=True)
class PriceRule:
    chain: Chain
    asset_key: str
    symbol: str


def parse_price_rule(entry: str) -> PriceRule:
    """`chain:asset_key=SYMBOL` as a rule; `ConfigError` naming WALLETSYNC_PRICE_ASSET_MAP when malformed."""
    target, eq, symbol = entry.partition("=")
    chain, colon, asset_key = target.strip().partition(":")
    if not (eq and colon and asset_key.strip() and symbol.strip()):
        raise ConfigError(f"WALLETSYNC_PRICE_ASSET_MAP: {entry!r} is not chain:asset_key=SYMBOL")
    try:
        parsed_chain = Chain(chain.strip().lower())
    except ValueError:
        raise ConfigError(f"WALLETSYNC_PRICE_ASSET_MAP: unknown chain {chain!r} in {entry!r}") from None
    return PriceRule(parsed_chain, asset_key.strip(), normalize_symbol(symbol))


def price_rules(settings: Settings) -> list[PriceRule]:
    """Native coins against the quote currency, then the configured tokens (which may override them)."""
    quote = settings.quote_currency.strip().upper()
    rules = {
        (chain, NATIVE): PriceRule(chain, NATIVE, f"{coin.symbol}/{quote}")
        for chain, coin in NATIVE_COINS.items()
    }
    for entry in settings.price_asset_map:
        rule = parse_price_rule(entry)
        rules[(rule.chain, rule.asset_key)] = rule
    return list(rules.values())


def sync_symbols(settings: Settings) -> list[str]:
    """Every symbol to ingest: WALLETSYNC_PRICE_SYMBOLS, then those the price rules need, each once."""
    symbols = [normalize_symbol(s) for s in settings.price_symbols]
    symbols += [rule.symbol for rule in price_rules(settings)]
    return list(dict.fromkeys(symbols))


async def ensure_native_assets(conn: AsyncConnection) -> None:
    """The native coins' `assets` rows, so they can be linked before any wallet of the chain syncs."""
    rows = [
        {
            "chain": chain.value,
            "asset_key": NATIVE,
            "symbol": c.symbol,
            "name": c.name,
            "decimals": c.decimals,
        }
        for chain, c in NATIVE_COINS.items()
    ]
    await conn.execute(pg_insert(assets).values(rows).on_conflict_do_nothing())


async def link_assets(conn: AsyncConnection, rules: list[PriceRule]) -> int:
    """Point each rule's asset at its instrument when both exist; return how many links changed."""
    changed = 0
    for rule in rules:
        asset_id = await conn.scalar(
            select(assets.c.id).where(
                assets.c.chain == rule.chain.value, assets.c.asset_key == rule.asset_key
            )
        )
        instrument = await find_instrument(conn, rule.symbol)
        if asset_id is None or instrument is None:
            continue
        insert = pg_insert(asset_prices).values(asset_id=asset_id, instrument_id=instrument.id)
        result = await conn.execute(
            insert.on_conflict_do_update(
                index_elements=[asset_prices.c.asset_id],
                set_={"instrument_id": insert.excluded.instrument_id},
                where=asset_prices.c.instrument_id != insert.excluded.instrument_id,
            )
        )
        changed += result.rowcount or 0
    return changed


@dataclass(frozen=True, slots=True)
class AssetPrice:
    asset_id: int
    chain: str
    asset_key: str
    symbol: str | None
    name: str | None
    decimals: int | None
    instrument_symbol: str | None
    quote: str | None
    price: Decimal | None
    price_ts: datetime | None

    @property
    def priced(self) -> bool:
        return self.price is not None


async def list_assets(
    conn: AsyncConnection, *, chain: str | None = None, after_id: int | None = None, limit: int = 100
) -> list[AssetPrice]:
    """Known assets by id, each with its pricing instrument and latest close (None when unpriced)."""
    query = (
        select(
            assets.c.id,
            assets.c.chain,
            assets.c.asset_key,
            assets.c.symbol,
            assets.c.name,
            assets.c.decimals,
            instruments.c.id.label("instrument_id"),
            instruments.c.symbol.label("instrument_symbol"),
            instruments.c.currency_quote,
        )
        .outerjoin(asset_prices, asset_prices.c.asset_id == assets.c.id)
        .outerjoin(instruments, and_(instruments.c.id == asset_prices.c.instrument_id))
        .order_by(assets.c.id)
        .limit(limit)
    )
    if chain is not None:
        query = query.where(assets.c.chain == chain)
    if after_id is not None:
        query = query.where(assets.c.id > after_id)
    rows = (await conn.execute(query)).all()
    closes = await latest_closes(conn, [r.instrument_id for r in rows if r.instrument_id is not None])
    result = []
    for r in rows:
        point = closes.get(r.instrument_id) if r.instrument_id is not None else None
        result.append(
            AssetPrice(
                asset_id=r.id,
                chain=r.chain,
                asset_key=r.asset_key,
                symbol=r.symbol,
                name=r.name,
                decimals=r.decimals,
                instrument_symbol=r.instrument_symbol,
                quote=r.currency_quote,
                price=point.close if point else None,
                price_ts=point.ts if point else None,
            )
        )
    return result
