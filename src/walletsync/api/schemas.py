"""Pydantic request and response schemas of the wallet, sync, job and health routes.

Request models are strict (`true` is not a number, `"1"` is not an integer) and reject unknown
fields. Amounts are decimal strings of base units with `decimals` beside them: JSON numbers lose
precision past 2**53 and lamport or token amounts go past it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from annotated_types import Ge, Le
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from walletsync.config import Chain

T = TypeVar("T")

AmountStr = Annotated[str, Field(pattern=r"^-?[0-9]+$", examples=["1500000"])]
BalanceKind = Annotated[
    Literal["liquid", "staked", "rewards"],
    Field(
        description=(
            "liquid: held (sum of the indexed transactions); staked: in Solana stake accounts the wallet "
            "stakes or withdraws (their lamports); rewards: Cardano staking rewards not yet withdrawn. "
            "Staked and rewards are the chain's native asset and count in the wallet's value."
        )
    ),
]


def integral_number(value: object) -> object:
    # JSON Schema counts 7.0 as an integer; strict mode would refuse it. 7.5 and "7" stay refused.
    return int(value) if isinstance(value, float) and value.is_integer() else value


# A row id in a request body: a JSON integer (7 or 7.0) up to 2^53 - 1, the largest every JSON parser
# reads exactly (a bound at 2^63 - 1 is not: 2^63 + 191 parses as the same double, so validators and
# clients disagree about it). Ids come from bigint identities and never get near.
MAX_BODY_ID = 2**53 - 1
BodyId = Annotated[
    int,
    Ge(1),
    Le(MAX_BODY_ID),
    BeforeValidator(integral_number),
    WithJsonSchema({"type": "integer", "minimum": 1, "maximum": MAX_BODY_ID}),
]


class StrictRequest(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class WalletIn(StrictRequest):
    # Enums arrive as JSON strings; strict mode would demand an enum instance, so this field is lax.
    chain: Annotated[Chain, Field(strict=False)]
    address: Annotated[str, Field(min_length=1, max_length=200)]
    label: Annotated[str | None, Field(max_length=200)] = None
    group: Annotated[str | None, Field(min_length=1, max_length=100)] = None


class WalletOut(BaseModel):
    id: int
    chain: Chain
    address: str
    label: str | None
    group: str | None
    created_at: datetime


class WalletCreated(WalletOut):
    sync_job_id: int = Field(description="The job syncing the new wallet (follow it at /v1/jobs/{id}).")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page."
    )


class DeltaOut(BaseModel):
    asset_key: str = Field(description="`native`, an SPL mint, or a Cardano policy id + asset name (hex).")
    symbol: str | None
    decimals: int | None
    amount: AmountStr


class TransactionOut(BaseModel):
    tx_id: str
    chain: Chain
    height: int | None
    block_time: datetime | None
    fee: AmountStr = Field(
        description="Fee this wallet paid: the transaction's fee when the wallet is its fee payer, else 0."
    )
    success: bool
    deltas: list[DeltaOut] = Field(description="How this transaction changed the wallet's balances.")


class BalanceOut(BaseModel):
    asset_id: int
    asset_key: str
    symbol: str | None
    name: str | None
    decimals: int | None
    amount: AmountStr = Field(description="Base units (lamports, lovelace, raw token units).")
    formatted: str = Field(
        description="The amount in whole units, exact (base units when decimals are unknown)."
    )
    kind: BalanceKind = "liquid"


class BalancesOut(BaseModel):
    wallet_id: int
    chain: Chain
    address: str
    at: datetime | None = Field(description="The point in time asked for (`at=`), or null for now.")
    balances: list[BalanceOut]


class SyncStatusOut(BaseModel):
    wallet_id: int
    status: Literal["pending", "running", "ok", "error"]
    cursor: dict[str, Any] | None = Field(description="Where the next sync resumes (provider-specific).")
    last_height: int | None
    last_synced_at: datetime | None
    lag_seconds: float | None = Field(
        description="Seconds since the last completed sync; null if never synced."
    )
    error: str | None = Field(description="The last sync error, if the last sync failed.")
    tx_count: int
    next_sync_at: datetime
    updated_at: datetime


class SyncAccepted(BaseModel):
    job_id: int
    wallet_id: int
    status_url: str = Field(description="Where to follow the job.")


class JobOut(BaseModel):
    id: int
    task_name: str
    status: str = Field(description="todo, doing, succeeded, failed, cancelled or aborted.")
    attempts: int
    args: dict[str, Any]
    queue: str
    scheduled_at: datetime | None
    last_error: str | None
    created_at: datetime | None


class HealthOut(BaseModel):
    status: Literal["ok"]


class CheckOut(BaseModel):
    name: str
    ok: bool
    critical: bool = Field(description="A failed critical check makes the instance not ready (503).")
    detail: str | None = Field(
        default=None, description="Hosts, lag and error text: only with an admin key (null otherwise)."
    )


class ReadyOut(BaseModel):
    status: Literal["ready", "degraded", "not_ready"]
    checks: list[CheckOut]
