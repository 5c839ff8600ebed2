"""What the pages show, assembled from the domain packages (the dashboard's service layer).

Each function takes a connection and returns plain dataclasses the templates read; none writes.
The portfolio valuates each wallet now and 24 hours ago (two valuations per wallet, each a few indexed
queries), for at most `MAX_WALLETS` wallets: the page is for people, not for fleets of thousands.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncConnection

from walletsync.indexing.state import SyncStatus, get_sync_state
from walletsync.portfolio.valuation import Position, WalletValue, to_units, wallet_value
from walletsync.wallets.repository import WalletRow, list_wallets

MAX_WALLETS = 500
RANGES = {"7d": 7, "30d": 30, "90d": 90, "1y": 365, "all": None}
DEFAULT_RANGE = "90d"


@dataclass(frozen=True, slots=True)
class Scope:
    """Which wallets a portfolio view covers: `all`, `group:<name>` or `wallet:<id>`."""

    key: str
    label: str


@dataclass(frozen=True, slots=True)
class WalletLine:
    wallet: WalletRow
    value: WalletValue
    change: Decimal | None  # value now minus value 24 h ago (None: no value then)
    change_pct: Decimal | None
    sync: SyncStatus


@dataclass(frozen=True, slots=True)
class Slice:
    label: str
    value: Decimal
    share: Decimal  # 0..1 of the priced total


@dataclass(frozen=True, slots=True)
class UnpricedLine:
    wallet: WalletRow
    position: Position

    @property
    def amount(self) -> str:
        p = self.position
        return str(p.amount) if p.decimals is None else f"{to_units(p.amount, p.decimals):f}"


@dataclass
class Portfolio:
    quote: str
    scopes: list[Scope]
    scope: Scope
    lines: list[WalletLine] = field(default_factory=list)
    total: Decimal = Decimal(0)
    change: Decimal | None = None
    change_pct: Decimal | None = None
    by_asset: list[Slice] = field(default_factory=list)
    by_chain: list[Slice] = field(default_factory=list)
    unpriced: list[UnpricedLine] = field(default_factory=list)
    truncated: bool = False


def _slices(values: dict[str, Decimal]) -> list[Slice]:
    total = sum(values.values(), Decimal(0))
    ordered = sorted(values.items(), key=lambda kv: kv[1], reverse=True)
    return [Slice(k, v, (v / total) if total else Decimal(0)) for k, v in ordered if v > 0]


def _pct(change: Decimal | None, before: Decimal | None) -> Decimal | None:
    if change is None or not before:
        return None
    return change / before * 100


def scopes_of(wallets: list[WalletRow]) -> list[Scope]:
    scopes = [Scope("all", "All wallets")]
    groups = sorted({w.group_name for w in wallets if w.group_name})
    scopes += [Scope(f"group:{g}", f"Group {g}") for g in groups]
    scopes += [Scope(f"wallet:{w.id}", f"{w.label or w.address[:10]} ({w.chain.value})") for w in wallets]
    return scopes


def select_wallets(wallets: list[WalletRow], scope_key: str) -> list[WalletRow]:
    kind, _, value = scope_key.partition(":")
    if kind == "group":
        return [w for w in wallets if w.group_name == value]
    if kind == "wallet":
        return [w for w in wallets if str(w.id) == value]
    return wallets


async def all_wallets(conn: AsyncConnection) -> tuple[list[WalletRow], bool]:
    rows = await list_wallets(conn, limit=MAX_WALLETS + 1)
    return rows[:MAX_WALLETS], len(rows) > MAX_WALLETS


async def portfolio(conn: AsyncConnection, *, quote: str, scope_key: str) -> Portfolio:
    wallets, truncated = await all_wallets(conn)
    scopes = scopes_of(wallets)
    scope = next((s for s in scopes if s.key == scope_key), scopes[0])
    view = Portfolio(quote=quote, scopes=scopes, scope=scope, truncated=truncated)
    day_ago = datetime.now(UTC) - timedelta(hours=24)
    by_asset: dict[str, Decimal] = defaultdict(Decimal)
    by_chain: dict[str, Decimal] = defaultdict(Decimal)
    before_total: Decimal | None = Decimal(0)
    for wallet in select_wallets(wallets, scope.key):
        now = await wallet_value(conn, wallet.id, quote=quote)
        before = await wallet_value(conn, wallet.id, quote=quote, at=day_ago)
        change = now.total - before.total if before.positions else None
        view.lines.append(
            WalletLine(wallet, now, change, _pct(change, before.total), await get_sync_state(conn, wallet.id))
        )
        view.total += now.total
        if before_total is not None and before.positions:
            before_total += before.total
        elif now.positions:
            before_total = None  # a wallet with value now but none a day ago: no honest total change
        for p in now.positions:
            assert p.value is not None
            by_asset[p.symbol or p.asset_key] += p.value
            by_chain[now.chain] += p.value
        view.unpriced += [UnpricedLine(wallet, p) for p in now.unpriced]
    if before_total:
        view.change = view.total - before_total
        view.change_pct = _pct(view.change, before_total)
    view.by_asset = _slices(by_asset)
    view.by_chain = _slices(by_chain)
    return view


def series_window(range_key: str, *, latest: datetime | None) -> tuple[datetime | None, datetime]:
    """(start, end) of a named range (start None for `all`) ending now, or at the newest stored bar
    when prices stopped before now, so a stale price feed shows its last weeks rather than nothing."""
    end = datetime.now(UTC)
    if latest is not None and latest < end:
        end = latest
    days = RANGES.get(range_key, RANGES[DEFAULT_RANGE])
    return (end - timedelta(days=days) if days is not None else None), end
