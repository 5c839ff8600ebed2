"""A small hand-made portfolio over the simulator's prices, and its value computed by hand.

Three wallets (two in group "treasury"), native SOL and ADA, a USDC token priced through
WALLETSYNC_PRICE_ASSET_MAP, a token with no price link and one with unknown decimals. Times are relative to the
simulator's newest bar (`anchor()`); the prices are the simulator's ground-truth closes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from walletsync.config import Settings
from walletsync.db.engine import Database
from walletsync.db.models import assets, balance_deltas, transactions, wallet_transactions, wallets
from walletsync.market.links import ensure_native_assets
from walletsync.market.sync import sync_prices
from walletsync.simulator.market import MarketData

from .fakes import FakeTwelveData, MovingClock, anchor

USDC_MINT = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
UNLINKED_MINT = "UnLinked1111111111111111111111111111111111"
NODEC_MINT = "NoDecimals111111111111111111111111111111111"


@dataclass(frozen=True)
class Delta:
    wallet: str
    tx_id: str
    asset: str  # "SOL", "ADA", "USDC", "UNLINKED", "NODEC"
    amount: int
    at: datetime


T = anchor()
DELTAS = [
    Delta("w1", "t1", "SOL", 5_000_000_000, T - timedelta(hours=20)),
    Delta("w1", "t2", "USDC", 250_000_000, T - timedelta(hours=10)),
    Delta("w1", "t3", "UNLINKED", 42, T - timedelta(hours=8)),
    Delta("w1", "t3", "NODEC", 1000, T - timedelta(hours=8)),
    Delta("w1", "t4", "SOL", -1_234_567_890, T - timedelta(hours=5, minutes=30)),
    Delta("w1", "t5", "SOL", 7, T - timedelta(hours=2)),  # exactly at the close of the T-3h bar
    Delta("w2", "c1", "ADA", 3_000_000, T - timedelta(hours=15)),
    Delta("w3", "t9", "SOL", 100_000_000_000, T - timedelta(hours=30)),
]
DECIMALS = {"SOL": 9, "ADA": 6, "USDC": 6, "UNLINKED": 0, "NODEC": None}
SYMBOL = {"SOL": "SOL/USD", "ADA": "ADA/USD", "USDC": "USDC/USD"}
WALLETS = {
    "w1": ("solana", "So1anaWa11et1111111111111111111111111111111", "treasury"),
    "w2": ("cardano", "addr1qcardanowallet000000000000000000000000000000000", "treasury"),
    "w3": ("solana", "So1anaWa11et3333333333333333333333333333333", None),
}


@dataclass
class Portfolio:
    wallet_ids: dict[str, int]
    asset_ids: dict[str, int]
    market: MarketData

    def close_at(self, asset: str, at: datetime) -> Decimal | None:
        """Close of the latest hourly bar that had ended by `at` (the portfolio stores hourly bars only)."""
        bars = [c for c in self.market.candles(SYMBOL[asset], "1h") if c.ts + timedelta(hours=1) <= at]
        return bars[-1].close if bars else None

    def balance(self, wallet: str, asset: str, at: datetime | None = None) -> int:
        return sum(
            d.amount for d in DELTAS if d.wallet == wallet and d.asset == asset and (at is None or d.at <= at)
        )

    def value(self, wallet: str, at: datetime | None = None, *, price_at: datetime | None = None) -> Decimal:
        """By hand: every priced asset's units times its close; unpriced ones left out."""
        total = Decimal(0)
        for asset in {d.asset for d in DELTAS if d.wallet == wallet}:
            decimals = DECIMALS[asset]
            if asset not in SYMBOL or decimals is None:
                continue
            close = self.close_at(asset, price_at or at or T)
            assert close is not None
            total += Decimal(self.balance(wallet, asset, at)) / Decimal(10) ** decimals * close
        return total


async def _asset(conn: AsyncConnection, chain: str, key: str, symbol: str, decimals: int | None) -> int:
    await conn.execute(
        pg_insert(assets)
        .values(chain=chain, asset_key=key, symbol=symbol, decimals=decimals)
        .on_conflict_do_nothing()
    )
    found = await conn.scalar(select(assets.c.id).where(assets.c.chain == chain, assets.c.asset_key == key))
    assert found is not None
    return int(found)


async def build_portfolio(db: Database, settings: Settings) -> Portfolio:
    """Insert the wallets and facts, then sync 48 hourly bars of SOL, ADA and USDC from the fake."""
    async with db.write() as conn:
        wallet_ids = {}
        for name, (chain, address, group) in WALLETS.items():
            wallet_ids[name] = int(
                await conn.scalar(
                    insert(wallets)
                    .values(chain=chain, address=address, label=name, group_name=group)
                    .returning(wallets.c.id)
                )
            )
        await ensure_native_assets(conn)
        asset_ids = {
            "SOL": await _asset(conn, "solana", "native", "SOL", 9),
            "ADA": await _asset(conn, "cardano", "native", "ADA", 6),
            "USDC": await _asset(conn, "solana", USDC_MINT, "USDC", 6),
            "UNLINKED": await _asset(conn, "solana", UNLINKED_MINT, "UNL", 0),
            "NODEC": await _asset(conn, "solana", NODEC_MINT, None, None),  # type: ignore[arg-type]
        }
        for d in DELTAS:
            chain = WALLETS[d.wallet][0]
            wallet_id = wallet_ids[d.wallet]
            height = int(d.at.timestamp()) // 10  # any height that grows with time
            await conn.execute(
                pg_insert(transactions)
                .values(chain=chain, tx_id=d.tx_id, height=height, block_time=d.at, fee=5000, success=True)
                .on_conflict_do_nothing()
            )
            await conn.execute(
                pg_insert(wallet_transactions)
                .values(wallet_id=wallet_id, chain=chain, tx_id=d.tx_id, height=height, block_time=d.at)
                .on_conflict_do_nothing()
            )
            await conn.execute(
                insert(balance_deltas).values(
                    wallet_id=wallet_id,
                    chain=chain,
                    tx_id=d.tx_id,
                    asset_id=asset_ids[d.asset],
                    amount=d.amount,
                    block_time=d.at,
                    height=height,
                )
            )
    source = FakeTwelveData(now=T + timedelta(hours=1))
    cfg = settings.model_copy(
        update={
            "price_symbols": ["SOL/USD", "ADA/USD", "USDC/USD"],
            "price_intervals": ["1h"],
            "price_history_days": 2,
            "price_asset_map": [f"solana:{USDC_MINT}=USDC/USD"],
        }
    )
    await sync_prices(db, source, cfg, clock=MovingClock(T + timedelta(hours=1)), catalogs=False)
    return Portfolio(wallet_ids, asset_ids, source.market)
