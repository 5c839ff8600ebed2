"""The public event contract: one envelope, one versioned `data` schema per event type.

These pydantic models are documentation and tests' oracle, not the serializer: `envelope.py` builds
plain dicts (hot path) and a test validates them against these models. They are published in the
OpenAPI document's `webhooks` section (`api/routers/webhooks.py`) and in docs/events.md.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import BaseModel, Field

TX_INDEXED = "tx.indexed"
TX_ROLLED_BACK = "tx.rolled_back"
BALANCE_CHANGED = "balance.changed"
SYNC_COMPLETED = "sync.completed"
SYNC_FAILED = "sync.failed"
TOPICS = (TX_INDEXED, TX_ROLLED_BACK, BALANCE_CHANGED, SYNC_COMPLETED, SYNC_FAILED)
VERSION = 1

AmountStr = Annotated[str, Field(pattern=r"^-?[0-9]+$", examples=["1500000"])]
D = TypeVar("D", bound=BaseModel)


class WalletRef(BaseModel):
    id: int
    chain: Literal["solana", "cardano"]
    address: str
    label: str | None
    group: str | None


class Amount(BaseModel):
    asset: str = Field(description="`native`, an SPL mint, or a Cardano policy id + asset name (hex).")
    symbol: str | None
    decimals: int | None = Field(description="Null when the asset's metadata is unknown.")
    amount: AmountStr = Field(description="Base units, as an integer string.")


class TxData(BaseModel):
    tx_id: str
    height: int | None
    block_time: datetime | None
    success: bool | None = Field(description="Null on `tx.rolled_back`.")
    fee: Amount | None = Field(description="Null on `tx.rolled_back`.")
    deltas: list[Amount] = Field(description="How the transaction changed (or had changed) the wallet.")


class BalanceData(BaseModel):
    asset: str
    symbol: str | None
    decimals: int | None
    old_amount: AmountStr
    new_amount: AmountStr
    change: AmountStr


class SyncCompletedData(BaseModel):
    new_transactions: int
    seen_transactions: int
    pages: int


class SyncFailedData(BaseModel):
    error: str = Field(description="The error class and message, one line.")


class Event(BaseModel, Generic[D]):
    """Every event, on webhooks and streams alike."""

    id: str = Field(description="Stable id (the outbox id); the `webhook-id` header. Drop duplicates by it.")
    type: str
    version: int = Field(description=f"Schema version of `data`; {VERSION} today.")
    timestamp: datetime = Field(description="When the event was written, with its facts.")
    wallet: WalletRef
    data: D


class TxIndexedEvent(Event[TxData]):
    type: Literal["tx.indexed"]


class TxRolledBackEvent(Event[TxData]):
    type: Literal["tx.rolled_back"]


class BalanceChangedEvent(Event[BalanceData]):
    type: Literal["balance.changed"]


class SyncCompletedEvent(Event[SyncCompletedData]):
    type: Literal["sync.completed"]


class SyncFailedEvent(Event[SyncFailedData]):
    type: Literal["sync.failed"]


EVENT_MODELS: dict[str, type[Event[BaseModel]]] = {
    TX_INDEXED: TxIndexedEvent,  # type: ignore[dict-item]
    TX_ROLLED_BACK: TxRolledBackEvent,  # type: ignore[dict-item]
    BALANCE_CHANGED: BalanceChangedEvent,  # type: ignore[dict-item]
    SYNC_COMPLETED: SyncCompletedEvent,  # type: ignore[dict-item]
    SYNC_FAILED: SyncFailedEvent,  # type: ignore[dict-item]
}

DESCRIPTIONS = {
    TX_INDEXED: "A transaction new to the wallet was indexed (one per wallet and transaction).",
    TX_ROLLED_BACK: "The indexer retracted a transaction from the wallet (a reorg or a dropped tx).",
    BALANCE_CHANGED: "A wallet's balance of one asset changed; once per asset per committed sync batch.",
    SYNC_COMPLETED: "A wallet's sync reached the chain head.",
    SYNC_FAILED: "A wallet's sync failed; it is retried on the sync schedule.",
}


AnyEvent = Annotated[
    TxIndexedEvent | TxRolledBackEvent | BalanceChangedEvent | SyncCompletedEvent | SyncFailedEvent,
    Field(discriminator="type"),
]
BATCH_DESCRIPTION = (
    "A batched webhook's request (`batch_size` > 1): up to that many events of one wallet, oldest first. "
    "Each event keeps its own `id`: drop duplicates per event, as with single deliveries."
)


class EventBatch(BaseModel):
    """The body of a batched webhook request (`delivery.batch_body` builds it)."""

    id: str = Field(
        description="The batch's id (`batch_<n>`): the `webhook-id` header, stable across retries."
    )
    type: Literal["batch"]
    version: Literal[1]
    count: int = Field(ge=1, le=100, description="How many events `events` holds.")
    events: list[AnyEvent] = Field(description="Events of one wallet, in the order they happened.")
