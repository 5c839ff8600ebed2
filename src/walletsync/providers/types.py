"""Normalized types every provider adapter returns; the rest of walletsync sees only these.

Amounts are Python `int`s in base units (lamports, lovelace, raw token units). Prices are `Decimal`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from walletsync.config import Chain
from walletsync.providers.errors import ProviderError

NATIVE = "native"
"""`asset` key of a chain's own coin: SOL in lamports, ADA in lovelace."""


@dataclass(frozen=True, slots=True)
class BalanceDelta:
    """A signed change of one owner's balance of one asset in one transaction."""

    owner: str
    asset: str  # NATIVE, an SPL mint address, or a Cardano unit (policy id + hex asset name)
    amount: int


@dataclass(frozen=True, slots=True)
class TxRef:
    """One entry of a wallet's transaction list, before the transaction itself is fetched."""

    tx_id: str
    height: int  # Solana slot, Cardano block height
    index: int = 0  # position inside the block where the provider tells it (Cardano tx_index)
    block_time: datetime | None = None
    failed: bool = False


@dataclass(frozen=True, slots=True)
class ChainTx:
    """A normalized transaction with every non-zero (owner, asset) change it caused."""

    chain: Chain
    tx_id: str
    height: int | None
    block_time: datetime | None
    fee: int
    success: bool
    deltas: tuple[BalanceDelta, ...]
    # Who paid `fee` (Solana: the first account key; Cardano: the address of the inputs funding it).
    # Only that owner's wallet pays the fee; None when unknown.
    fee_payer: str | None = None
    # The hash of the block holding it, where the chain names one (Cardano): a rollback changes it.
    block_hash: str | None = None
    raw: dict[str, Any] | None = field(default=None, compare=False, repr=False)

    def deltas_for(self, owners: set[str] | frozenset[str]) -> list[BalanceDelta]:
        return [d for d in self.deltas if d.owner in owners]

    def to_json(self) -> dict[str, Any]:
        """The `inspect-tx` shape: amounts as signed integer strings."""
        return {
            "tx_id": self.tx_id,
            "chain": self.chain.value,
            "fee": str(self.fee),
            "fee_payer": self.fee_payer,
            "success": self.success,
            "block_time": self.block_time.isoformat() if self.block_time else None,
            "deltas": [{"owner": d.owner, "asset": d.asset, "amount": str(d.amount)} for d in self.deltas],
        }


@dataclass(frozen=True, slots=True)
class AssetInfo:
    chain: Chain
    asset_key: str
    symbol: str | None
    name: str | None
    decimals: int | None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HeldAsset:
    """A current balance as the provider reports it (used to check indexed balances)."""

    asset: str
    amount: int


@dataclass(frozen=True, slots=True)
class ExchangeInfo:
    kind: str  # "stock" or "crypto"
    name: str
    code: str | None = None
    country: str | None = None
    timezone: str | None = None


@dataclass(frozen=True, slots=True)
class InstrumentInfo:
    kind: str  # "crypto" or "stock"
    symbol: str
    name: str | None = None
    exchange: str = ""
    currency_base: str | None = None
    currency_quote: str | None = None
    country: str | None = None
    instrument_type: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Candle:
    symbol: str
    interval: str
    ts: datetime  # UTC, start of the bar
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal | None = None


class JsonTransport(Protocol):
    """What an adapter needs from the resilient client (`providers.http.ResilientClient` implements it).

    Paths are relative to the endpoint base URL (the client picks the endpoint). Raises the typed
    errors of `providers.errors` on failure; returns the decoded JSON body on success. `cost` is how
    many rate-limit tokens the call uses (a JSON-RPC batch of N calls costs N). `cache_ttl_s` caches
    the decoded body of a successful call for that long (slow-changing metadata only).
    """

    async def get_json(
        self,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        cache_ttl_s: float | None = None,
        cost: int = 1,
    ) -> Any: ...

    async def post_json(
        self,
        path: str,
        *,
        body: Any,
        idempotent: bool = True,
        cache_ttl_s: float | None = None,
        cost: int = 1,
    ) -> Any: ...


class ErrorClassifier(Protocol):
    """Provider-specific reading of a response: the typed error it means, or None for success.

    Called by the resilient client on every response with the HTTP status, the decoded JSON body
    (None when the body is not JSON) and the headers. Twelve Data reports errors inside HTTP 200
    bodies and Solana JSON-RPC inside `{"error": ...}`; only the adapter knows. Retry decisions
    follow the returned error's `retryable`.
    """

    def __call__(self, status: int, body: Any, headers: Mapping[str, str]) -> ProviderError | None: ...
