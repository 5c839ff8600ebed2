"""Valuation and leaderboards on real PostgreSQL, checked against hand computations on simulator prices."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from walletsync.config import Settings
from walletsync.db.engine import Database
from walletsync.portfolio.leaderboard import leaderboard
from walletsync.portfolio.series import group_value_series, wallet_value_series
from walletsync.portfolio.valuation import GroupNotFoundError, group_value, wallet_value

from .facts import DECIMALS, DELTAS, SYMBOL, T, build_portfolio


async def test_wallet_value_now_equals_hand_computation(db: Database, settings: Settings) -> None:
    """Value now = SOL units x last SOL close + USDC units x last USDC close, exactly."""
    p = await build_portfolio(db, settings)
    async with db.read() as conn:
        value = await wallet_value(conn, p.wallet_ids["w1"])
    sol = Decimal(5_000_000_000 - 1_234_567_890 + 7).scaleb(-9) * p.close_at("SOL", T)  # type: ignore[operator]
    usdc = Decimal(250) * p.close_at("USDC", T)  # type: ignore[operator]
    assert value.total == sol + usdc == p.value("w1")
    assert [pos.symbol for pos in value.positions] == ["SOL", "USDC"]
    assert value.positions[0].price_ts == T - timedelta(hours=1)


async def test_unpriced_assets_are_flagged_never_zero(db: Database, settings: Settings) -> None:
    """A token with no price link and one with unknown decimals are listed unpriced, outside the total."""
    p = await build_portfolio(db, settings)
    async with db.read() as conn:
        value = await wallet_value(conn, p.wallet_ids["w1"])
    assert not value.complete
    unpriced = {pos.asset_id: pos for pos in value.unpriced}
    assert set(unpriced) == {p.asset_ids["UNLINKED"], p.asset_ids["NODEC"]}
    assert all(pos.value is None and pos.price is None for pos in value.unpriced)
    assert unpriced[p.asset_ids["UNLINKED"]].amount == 42
    assert unpriced[p.asset_ids["UNLINKED"]].unpriced_reason == "no price source linked to this asset"
    assert p.asset_ids["UNLINKED"] not in {pos.asset_id for pos in value.positions}


async def test_wallet_value_at_a_past_time(db: Database, settings: Settings) -> None:
    """At T-6h only the earlier deltas count, priced by the bar that ended at T-6h (not the one
    starting then, whose close lies in the future)."""
    p = await build_portfolio(db, settings)
    at = T - timedelta(hours=6)
    async with db.read() as conn:
        value = await wallet_value(conn, p.wallet_ids["w1"], at=at)
    assert value.total == Decimal(5) * p.close_at("SOL", at) + Decimal(250) * p.close_at("USDC", at)  # type: ignore[operator]
    assert value.total == p.value("w1", at)


async def test_value_series_matches_hand_computation_at_every_close(db: Database, settings: Settings) -> None:
    """Each hourly point = balances as of the bar's close (inclusive) x that bar's close."""
    p = await build_portfolio(db, settings)
    start, end = T - timedelta(hours=24), T - timedelta(hours=1)
    async with db.read() as conn:
        series = await wallet_value_series(conn, p.wallet_ids["w1"], interval="1h", start=start, end=end)
    assert [pt.ts for pt in series.points] == [start + timedelta(hours=h) for h in range(24)]
    for point in series.points:
        close_time = point.ts + timedelta(hours=1)
        expected = Decimal(0)
        for asset in ("SOL", "USDC"):
            bar = next(c for c in p.market.candles(SYMBOL[asset], "1h") if c.ts == point.ts)
            units = Decimal(p.balance("w1", asset, close_time)).scaleb(-(DECIMALS[asset] or 0))
            expected += units * bar.close
        assert point.value == expected, point.ts
    by_ts = {pt.ts: pt for pt in series.points}
    # the 7 lamports landing exactly at 22:00 count in the bar 21:00-22:00
    assert T - timedelta(hours=2) == next(d.at for d in DELTAS if d.tx_id == "t5")
    assert by_ts[T - timedelta(hours=3)].value - by_ts[T - timedelta(hours=4)].value != 0
    held_unpriced = by_ts[end].unpriced
    assert {h.asset_id for h in held_unpriced} == {p.asset_ids["UNLINKED"], p.asset_ids["NODEC"]}
    assert by_ts[start].unpriced == ()  # before T-8h the unpriced tokens were not held


async def test_group_totals_across_chains(db: Database, settings: Settings) -> None:
    """The treasury group (a Solana and a Cardano wallet) sums both wallets; its series too."""
    p = await build_portfolio(db, settings)
    async with db.read() as conn:
        group = await group_value(conn, "treasury")
        series = await group_value_series(conn, "treasury", interval="1h", start=T - timedelta(hours=3))
        with pytest.raises(GroupNotFoundError):
            await group_value(conn, "nobody")
    assert [w.wallet_id for w in group.wallets] == [p.wallet_ids["w1"], p.wallet_ids["w2"]]
    assert group.total == p.value("w1") + p.value("w2")
    last = series.points[-1]
    assert last.ts == T - timedelta(hours=1)
    assert last.value == p.value("w1") + p.value("w2")


async def test_value_leaderboard_is_ranked_and_exact(db: Database, settings: Settings) -> None:
    """Top wallets by value overall and per chain; scores equal each wallet's valuation exactly."""
    p = await build_portfolio(db, settings)
    async with db.read() as conn:
        board = await leaderboard(conn, kind="value", limit=5)
        cardano = await leaderboard(conn, kind="value", chain="cardano")
        top1 = await leaderboard(conn, kind="value", limit=1)
    ids = {v: k for k, v in p.wallet_ids.items()}
    assert [ids[e.wallet_id] for e in board.entries] == ["w3", "w1", "w2"]
    assert [e.rank for e in board.entries] == [1, 2, 3]
    for entry in board.entries:
        assert entry.score == p.value(ids[entry.wallet_id])
    assert [e.unpriced_assets for e in board.entries] == [0, 2, 0]
    assert [ids[e.wallet_id] for e in cardano.entries] == ["w2"]
    assert [ids[e.wallet_id] for e in top1.entries] == ["w3"]


async def test_activity_leaderboards_count_recent_transactions(db: Database, settings: Settings) -> None:
    """Transactions in the last 24 h and 7 d per wallet, ties by wallet id, per chain filter."""
    p = await build_portfolio(db, settings)
    async with db.read() as conn:
        day = await leaderboard(conn, kind="activity_24h", now=T)
        week = await leaderboard(conn, kind="activity_7d", now=T)
        week_solana = await leaderboard(conn, kind="activity_7d", chain="solana", now=T)
    ids = {v: k for k, v in p.wallet_ids.items()}
    assert [(ids[e.wallet_id], e.score) for e in day.entries] == [("w1", 5), ("w2", 1)]
    assert [(ids[e.wallet_id], e.score) for e in week.entries] == [("w1", 5), ("w2", 1), ("w3", 1)]
    assert [ids[e.wallet_id] for e in week_solana.entries] == ["w1", "w3"]
    assert day.since == T - timedelta(hours=24)
