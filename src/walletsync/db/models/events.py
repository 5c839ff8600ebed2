"""Events and their delivery: the outbox written with the facts it describes, its stream sequence,
webhooks and each event's delivery to each webhook (`walletsync/events/`).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Sequence,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from walletsync.db.models.base import created_at, metadata

# Events (events/). `outbox` rows are written with the facts they describe; the relay publishes them
# in commit order: `seq` (from `outbox_seq`, assigned under one lock) is the stream position that live
# streams resume from, since `id`s are taken at insert and concurrent transactions commit out of order.
outbox_seq = Sequence("outbox_seq", metadata=metadata)

outbox = Table(
    "outbox",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("topic", Text, nullable=False),
    Column("payload", JSONB, nullable=False),
    created_at(),
    Column("published_at", DateTime(timezone=True)),
    Column("seq", BigInteger),
    Index("ix_outbox_unpublished", "id", postgresql_where=text("published_at IS NULL")),
    Index("ix_outbox_seq", "seq", unique=True, postgresql_where=text("seq IS NOT NULL")),
)

webhooks = Table(
    "webhooks",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("url", Text, nullable=False),
    # Signing keys (`whsec_...`): HMAC needs the key itself, so it is stored, never logged or listed.
    Column("secret", Text, nullable=False),
    # After a rotation the old key also signs until `previous_secret_expires_at` (24 h).
    Column("previous_secret", Text),
    Column("previous_secret_expires_at", DateTime(timezone=True)),
    Column("topics", ARRAY(Text), nullable=False),
    # Optional filters: only these wallets, or only wallets of this group (both: either matches).
    Column("wallet_ids", ARRAY(BigInteger)),
    Column("group_name", Text),
    Column("description", Text),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("disabled_reason", Text),
    created_at(),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # Events of one wallet per signed request (1: one event per request; more: a batch envelope).
    Column("batch_size", Integer, nullable=False, server_default="1"),
    CheckConstraint("batch_size BETWEEN 1 AND 100", name="batch_size"),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    # One event for one webhook: its state and its last attempt (the delivery log operators read).
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("webhook_id", BigInteger, ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False),
    Column("outbox_id", BigInteger, ForeignKey("outbox.id", ondelete="CASCADE"), nullable=False),
    # The event's wallet: deliveries of one webhook and wallet go out one at a time in outbox order.
    Column("wallet_id", BigInteger, nullable=False),
    Column("status", Text, nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_status", Integer),
    Column("last_error", Text),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("last_attempt_at", DateTime(timezone=True)),
    Column("delivered_at", DateTime(timezone=True)),
    created_at(),
    # A batched webhook's batch, fixed when first sent: the id of its first delivery, on every row of
    # it, so a retry carries the same events under the same `webhook-id`. NULL when not batched.
    Column("batch_head", BigInteger),
    UniqueConstraint("webhook_id", "outbox_id"),
    CheckConstraint("status IN ('pending', 'delivered', 'dead')", name="status"),
    Index("ix_webhook_deliveries_due", "next_attempt_at", postgresql_where=text("status = 'pending'")),
    Index(
        "ix_webhook_deliveries_queue",
        "webhook_id",
        "wallet_id",
        "outbox_id",
        postgresql_where=text("status = 'pending'"),
    ),
    Index("ix_webhook_deliveries_outbox_id", "outbox_id"),
    # The oldest pending event (readiness, metrics) and the dead ones (operators) in one index probe.
    Index("ix_webhook_deliveries_pending", "outbox_id", postgresql_where=text("status = 'pending'")),
    Index("ix_webhook_deliveries_dead", "id", postgresql_where=text("status = 'dead'")),
)
