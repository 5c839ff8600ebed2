"""Request and response schemas of `/v1/webhooks` (the event payloads themselves are `events.schemas`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from annotated_types import Ge, Le
from pydantic import BaseModel, BeforeValidator, Field, WithJsonSchema

from walletsync.api.schemas import BodyId, StrictRequest, integral_number

# 49.0 is an integer to JSON Schema (and to the fuzzer): accepted like 49; 49.5 and "49" are refused.
BatchSize = Annotated[
    int,
    Ge(1),
    Le(100),
    BeforeValidator(integral_number),
    WithJsonSchema({"type": "integer", "minimum": 1, "maximum": 100}),
]

Topic = Literal["tx.indexed", "tx.rolled_back", "balance.changed", "sync.completed", "sync.failed"]


class WebhookIn(StrictRequest):
    url: Annotated[
        str, Field(min_length=8, max_length=2000, examples=["https://example.com/hooks/walletsync"])
    ]
    topics: Annotated[
        list[Topic] | None,
        Field(min_length=1, max_length=5, description="Event types to receive; all when omitted."),
    ] = None
    wallet_ids: Annotated[
        list[BodyId] | None,
        Field(min_length=1, max_length=10_000, description="Only these wallets' events."),
    ] = None
    group: Annotated[
        str | None, Field(min_length=1, max_length=100, description="Only events of wallets in this group.")
    ] = None
    description: Annotated[str | None, Field(max_length=500)] = None
    replay: bool = Field(
        default=False,
        description="Also deliver the matching events already published (still within retention), oldest first.",
    )
    batch_size: BatchSize = Field(
        default=1,
        description="Events of one wallet per signed request: 1 (default) sends each event on its own; "
        "more sends a `batch` envelope of up to that many events, in order (see the `batch` webhook).",
    )


class WebhookOut(BaseModel):
    id: int
    url: str
    topics: list[str]
    wallet_ids: list[int] | None
    group: str | None
    description: str | None
    active: bool
    disabled_reason: str | None = Field(
        description="Why the webhook was switched off (e.g. the receiver answered 410)."
    )
    previous_secret_valid_until: datetime | None = Field(
        description="After a rotation: until when the previous secret also signs deliveries."
    )
    created_at: datetime
    updated_at: datetime
    batch_size: int = Field(description="Events of one wallet per signed request (1: not batched).")


class WebhookCreated(WebhookOut):
    secret: str = Field(description="The signing secret (`whsec_...`). Shown once: store it now.")


class SecretRotated(BaseModel):
    webhook_id: int
    secret: str = Field(description="The new signing secret. Shown once.")
    previous_secret_valid_until: datetime


class DeliveryOut(BaseModel):
    id: int
    event_id: str
    wallet_id: int
    status: Literal["pending", "delivered", "dead"]
    attempts: int
    last_status: int | None = Field(description="HTTP status of the last attempt (null: no answer).")
    last_error: str | None
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime


class RedeliverIn(StrictRequest):
    delivery_ids: Annotated[
        list[BodyId] | None,
        Field(
            min_length=1, max_length=10_000, description="These dead deliveries; all dead ones when omitted."
        ),
    ] = None


class Redelivered(BaseModel):
    queued: int


class TestResult(BaseModel):
    delivered: bool
    status: int | None = Field(description="The receiver's HTTP status (null: no answer).")
    error: str | None
    latency_ms: float
