"""Pure market-data helpers: price rules from settings, intervals, decimal strings, tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from rich.console import Console

from walletsync.api.market_schemas import decimal_str
from walletsync.config import Chain, load_settings
from walletsync.errors import ConfigError
from walletsync.market.errors import UnsupportedIntervalError
from walletsync.market.intervals import parse_interval
from walletsync.market.links import parse_price_rule, price_rules, sync_symbols
from walletsync.portfolio.console import leaderboard_table, wallet_values_table
from walletsync.portfolio.leaderboard import Leaderboard, LeaderboardEntry, LeaderboardKind
from walletsync.portfolio.valuation import Position, WalletValue

USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"


def test_native_coins_follow_the_quote_currency() -> None:
    """SOL and ADA are priced against WALLETSYNC_QUOTE_CURRENCY; configured tokens are added and synced."""
    settings = load_settings(
        quote_currency="eur", price_symbols=["BTC/EUR"], price_asset_map=[f"solana:{USDC}=usdc/eur"]
    )
    rules = {(r.chain, r.asset_key): r.symbol for r in price_rules(settings)}
    assert rules == {
        (Chain.SOLANA, "native"): "SOL/EUR",
        (Chain.CARDANO, "native"): "ADA/EUR",
        (Chain.SOLANA, USDC): "USDC/EUR",
    }
    assert sync_symbols(settings) == ["BTC/EUR", "SOL/EUR", "ADA/EUR", "USDC/EUR"]


def test_asset_map_from_the_environment_string(monkeypatch: pytest.MonkeyPatch) -> None:
    """WALLETSYNC_PRICE_ASSET_MAP is a comma-separated list read from the environment."""
    monkeypatch.setenv("WALLETSYNC_PRICE_ASSET_MAP", f"solana:{USDC}=USDC/USD, cardano:abc123=FOO/USD")
    rules = price_rules(load_settings())
    assert [(r.chain, r.asset_key, r.symbol) for r in rules][-2:] == [
        (Chain.SOLANA, USDC, "USDC/USD"),
        (Chain.CARDANO, "abc123", "FOO/USD"),
    ]


@pytest.mark.parametrize("entry", ["solana:=X/USD", "solana:mint", "mint=X/USD", "bitcoin:abc=BTC/USD"])
def test_malformed_asset_map_entry_names_the_variable(entry: str) -> None:
    """A bad entry is a ConfigError naming WALLETSYNC_PRICE_ASSET_MAP and the entry."""
    with pytest.raises(ConfigError, match="WALLETSYNC_PRICE_ASSET_MAP"):
        parse_price_rule(entry)


def test_intervals() -> None:
    """Known intervals have their length; an unknown one is a 422-class error listing the valid ones."""
    assert parse_interval("1h").approx == timedelta(hours=1)
    assert parse_interval("1day").pg == "1 day"
    with pytest.raises(UnsupportedIntervalError, match="1min, 5min"):
        parse_interval("3h")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("1E+3"), "1000"),
        (Decimal("0E-8"), "0"),
        (Decimal("602.93128350000"), "602.9312835"),
        (Decimal("-0.5"), "-0.5"),
    ],
)
def test_decimal_strings_are_plain(value: Decimal, text: str) -> None:
    """Decimals render without exponents or trailing zeros."""
    assert decimal_str(value) == text


def test_tables_render_values_and_boards() -> None:
    """The demo tables show totals, unpriced holdings apart, and ranks."""
    value = WalletValue(
        wallet_id=1,
        chain="solana",
        address="So1ana",
        label="alice",
        quote="USD",
        at=None,
        total=Decimal("1234.5"),
        positions=[Position(1, "solana", "native", "SOL", "Solana", 9, 10**9, value=Decimal("1234.5"))],
        unpriced=[Position(2, "solana", "mint", "BONK", None, 5, 7, unpriced_reason="no price source")],
    )
    board = Leaderboard(
        kind=LeaderboardKind.VALUE,
        chain=None,
        quote="USD",
        since=None,
        computed_at=datetime.now(UTC),
        entries=[
            LeaderboardEntry(1, 1, "solana", "So1ana", "alice", Decimal("1234.5")),
            LeaderboardEntry(2, 2, "solana", "So1anb", "bob", None, unpriced_assets=2),
        ],
    )
    console = Console(width=150, record=True)
    console.print(wallet_values_table([value]))
    console.print(leaderboard_table(board))
    text = console.export_text()
    assert "1,234.50" in text
    assert "BONK" in text
    assert "top 2 by value (all chains, USD)" in text
    assert "unpriced (2)" in text  # bob holds nothing priced: unknown, not 0
    assert "0.00" not in text
