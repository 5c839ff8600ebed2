"""The price at time t is the close of a bar that ENDED at or before t: most recent end first, the
finer interval on a tie. Bars, balances and every expected value below are written by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import insert

from walletsync.db.engine import Database
from walletsync.db.models import (
    asset_prices,
    assets,
    balance_deltas,
    candles,
    instruments,
    transactions,
    wallet_transactions,
    wallets,
)
from walletsync.portfolio.leaderboard import leaderboard
from walletsync.portfolio.valuation import wallet_value

D1 = datetime(2025, 1, 1, tzinfo=UTC)
D2 = datetime(2025, 1, 2, tzinfo=UTC)
H = timedelta(hours=1)

# (interval, start, close)
PAST_BARS = [
    ("1day", D1, "100"),  # ends D2 00:00
    ("1day", D2, "110"),  # ends 2025-01-03 00:00
    ("1h", D1 + 22 * H, "98"),  # ends D1 23:00
    ("1h", D1 + 23 * H, "99"),  # ends D2 00:00, ties with the D1 daily bar
    ("1h", D2, "101"),  # ends D2 01:00
]


async def _setup(db: Database, bars: list[tuple[str, datetime, str]]) -> int:
    """One wallet holding 2.50 XYZ (250 base units, 2 decimals) since 2024, priced by XYZ/USD."""
    async with db.write() as conn:
        wallet_id = int(
            await conn.scalar(
                insert(wallets)
                .values(chain="solana", address="PriceAtWa11et11111111111111111111111111111")
                .returning(wallets.c.id)
            )
        )
        asset_id = int(
            await conn.scalar(
                insert(assets)
                .values(
                    chain="solana",
                    asset_key="XyzMint1111111111111111111111111111111111111",
                    symbol="XYZ",
                    decimals=2,
                )
                .returning(assets.c.id)
            )
        )
        instrument_id = int(
            await conn.scalar(
                insert(instruments)
                .values(kind="crypto", symbol="XYZ/USD", currency_base="XYZ", currency_quote="USD")
                .returning(instruments.c.id)
            )
        )
        await conn.execute(insert(asset_prices).values(asset_id=asset_id, instrument_id=instrument_id))
        funded = datetime(2024, 6, 1, tzinfo=UTC)
        await conn.execute(
            insert(transactions).values(
                chain="solana", tx_id="fund", height=1, block_time=funded, fee=0, success=True
            )
        )
        await conn.execute(
            insert(wallet_transactions).values(
                wallet_id=wallet_id, chain="solana", tx_id="fund", height=1, block_time=funded
            )
        )
        await conn.execute(
            insert(balance_deltas).values(
                wallet_id=wallet_id,
                chain="solana",
                tx_id="fund",
                asset_id=asset_id,
                amount=250,
                block_time=funded,
                height=1,
            )
        )
        await conn.execute(
            insert(candles),
            [
                {
                    "instrument_id": instrument_id,
                    "interval": interval,
                    "ts": start,
                    "open": close,
                    "high": close,
                    "low": close,
                    "close": close,
                    "volume": None,
                }
                for interval, start, close in bars
            ],
        )
    return wallet_id


@pytest.mark.parametrize(
    ("at", "price", "value"),
    [
        # Only the 22:00 hourly bar has ended; the 23:00 one is still forming (its close is the future).
        (D1 + 23 * H + timedelta(minutes=30), "98", "245.00"),
        # The D1 daily bar and the 23:00 hourly bar both end at midnight: the finer one wins.
        (D2, "99", "247.50"),
        (D2 + timedelta(minutes=30), "99", "247.50"),
        (D2 + H, "101", "252.50"),
        # The D2 daily bar ends at 2025-01-03 00:00, later than any hourly bar: the most recent wins.
        (D2 + 24 * H, "110", "275.00"),
    ],
)
async def test_price_at_a_time_is_the_close_of_a_bar_that_had_ended(
    db: Database, at: datetime, price: str, value: str
) -> None:
    wallet_id = await _setup(db, PAST_BARS)
    async with db.read() as conn:
        valued = await wallet_value(conn, wallet_id, at=at)
    assert [p.price for p in valued.positions] == [Decimal(price)]
    assert valued.total == Decimal(value)


async def test_no_bar_ended_yet_means_unpriced(db: Database) -> None:
    wallet_id = await _setup(db, PAST_BARS)
    async with db.read() as conn:
        valued = await wallet_value(conn, wallet_id, at=D1 + 12 * H)
    assert valued.positions == []
    assert [p.amount for p in valued.unpriced] == [250]
    assert valued.total == Decimal(0)


async def test_value_now_and_the_leaderboard_ignore_the_bar_still_forming(db: Database) -> None:
    now = datetime.now(UTC)
    bars = [
        ("1h", now - 70 * timedelta(minutes=1), "120"),  # ended 10 minutes ago
        ("1h", now - 10 * timedelta(minutes=1), "999"),  # still forming for 50 minutes
        ("1day", now - 2 * H, "555"),  # a daily bar started 2 h ago: forming for 22 more hours
    ]
    wallet_id = await _setup(db, bars)
    async with db.read() as conn:
        valued = await wallet_value(conn, wallet_id)
        board = await leaderboard(conn, kind="value", limit=5, quote="USD")
    assert valued.total == Decimal("300.00")
    assert [(e.wallet_id, e.score) for e in board.entries] == [(wallet_id, Decimal("300.00"))]
