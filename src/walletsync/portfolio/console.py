"""Rich tables of wallet values and leaderboards, for `walletsync demo` and other commands."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table

from walletsync.portfolio.leaderboard import Leaderboard, LeaderboardKind
from walletsync.portfolio.valuation import Position, WalletValue


def _money(value: object) -> str:
    return f"{value:,.2f}"


def _name(p: Position) -> str:
    """The asset's symbol, and the kind of a staking line (`SOL staked`)."""
    name = p.symbol or p.asset_key[:8]
    return name if p.kind == "liquid" else f"{name} {p.kind}"


def wallet_values_table(values: Sequence[WalletValue]) -> Table:
    """One row per wallet: total in the quote currency, priced positions, unpriced holdings."""
    quote = values[0].quote if values else "USD"
    table = Table(title=f"wallet values ({quote})")
    table.add_column("wallet")
    table.add_column("chain")
    table.add_column("total", justify="right")
    table.add_column("positions")
    table.add_column("unpriced (not counted)")
    for v in values:
        positions = ", ".join(f"{_name(p)} {_money(p.value)}" for p in v.positions) or "-"
        unpriced = ", ".join(_name(p) for p in v.unpriced) or "-"
        table.add_row(v.label or v.address[:12], v.chain, _money(v.total), positions, unpriced)
    return table


def leaderboard_table(board: Leaderboard) -> Table:
    scope = board.chain or "all chains"
    unit = board.quote if board.kind is LeaderboardKind.VALUE else "transactions"
    table = Table(title=f"top {len(board.entries)} by {board.kind.value} ({scope}, {unit})")
    table.add_column("#", justify="right")
    table.add_column("wallet")
    table.add_column("chain")
    table.add_column("score", justify="right")
    for e in board.entries:
        if e.score is None:  # nothing held is priced: unknown, never shown as 0
            score = f"unpriced ({e.unpriced_assets})"
        else:
            score = _money(e.score) if board.kind is LeaderboardKind.VALUE else str(e.score)
        table.add_row(str(e.rank), e.label or e.address[:12], e.chain, score)
    return table
