"""Push: webhook subscriptions and deliveries reshaped for the relay; the outbox's publish order.

- `outbox.seq` (from `outbox_seq`): the commit-ordered stream position the relay assigns when it
  publishes an event; live streams resume from it (`Last-Event-ID`).
- A statement-level trigger NOTIFYs `walletsync_outbox` when outbox rows are inserted, so the relay
  wakes at the writer's commit without any writer knowing about it.
- `webhooks`: filters (wallet ids, group), description, a previous secret valid until a deadline
  (rotation), the reason a webhook was disabled.
- `webhook_deliveries`: the event's wallet (per-wallet order), the last attempt's HTTP status and
  time; status `failed` becomes `dead` (final, listed for redelivery).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOTIFY_FUNCTION = """
CREATE FUNCTION walletsync_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('walletsync_outbox', '');
    RETURN NULL;
END
$$
"""
NOTIFY_TRIGGER = """
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
FOR EACH STATEMENT EXECUTE FUNCTION walletsync_outbox_notify()
"""


def upgrade() -> None:
    op.execute(sa.schema.CreateSequence(sa.Sequence("outbox_seq")))
    op.add_column("outbox", sa.Column("seq", sa.BigInteger(), nullable=True))
    op.create_index(
        "ix_outbox_seq", "outbox", ["seq"], unique=True, postgresql_where=sa.text("seq IS NOT NULL")
    )
    op.execute(NOTIFY_FUNCTION)
    op.execute(NOTIFY_TRIGGER)

    op.add_column("webhooks", sa.Column("previous_secret", sa.Text(), nullable=True))
    op.add_column(
        "webhooks", sa.Column("previous_secret_expires_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("webhooks", sa.Column("wallet_ids", postgresql.ARRAY(sa.BigInteger()), nullable=True))
    op.add_column("webhooks", sa.Column("group_name", sa.Text(), nullable=True))
    op.add_column("webhooks", sa.Column("description", sa.Text(), nullable=True))
    op.add_column("webhooks", sa.Column("disabled_reason", sa.Text(), nullable=True))
    op.add_column(
        "webhooks",
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    )

    op.add_column("webhook_deliveries", sa.Column("wallet_id", sa.BigInteger(), nullable=True))
    op.execute(
        "UPDATE webhook_deliveries d SET wallet_id = coalesce((o.payload->>'wallet_id')::bigint, 0) "
        "FROM outbox o WHERE o.id = d.outbox_id"
    )
    op.alter_column("webhook_deliveries", "wallet_id", nullable=False)
    op.add_column("webhook_deliveries", sa.Column("last_status", sa.Integer(), nullable=True))
    op.add_column(
        "webhook_deliveries", sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "webhook_deliveries",
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    )
    op.drop_constraint(op.f("ck_webhook_deliveries_status"), "webhook_deliveries", type_="check")
    op.execute("UPDATE webhook_deliveries SET status = 'dead' WHERE status = 'failed'")
    op.create_check_constraint("status", "webhook_deliveries", "status IN ('pending', 'delivered', 'dead')")
    op.create_index(
        "ix_webhook_deliveries_due",
        "webhook_deliveries",
        ["next_attempt_at"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "ix_webhook_deliveries_queue",
        "webhook_deliveries",
        ["webhook_id", "wallet_id", "outbox_id"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index("ix_webhook_deliveries_outbox_id", "webhook_deliveries", ["outbox_id"])
    op.create_index(
        "ix_webhook_deliveries_pending",
        "webhook_deliveries",
        ["outbox_id"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "ix_webhook_deliveries_dead",
        "webhook_deliveries",
        ["id"],
        postgresql_where=sa.text("status = 'dead'"),
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_dead", table_name="webhook_deliveries")
    op.drop_index("ix_webhook_deliveries_pending", table_name="webhook_deliveries")
    op.drop_index("ix_webhook_deliveries_outbox_id", table_name="webhook_deliveries")
    op.drop_index("ix_webhook_deliveries_queue", table_name="webhook_deliveries")
    op.drop_index("ix_webhook_deliveries_due", table_name="webhook_deliveries")
    op.drop_constraint(op.f("ck_webhook_deliveries_status"), "webhook_deliveries", type_="check")
    op.execute("UPDATE webhook_deliveries SET status = 'failed' WHERE status = 'dead'")
    op.create_check_constraint("status", "webhook_deliveries", "status IN ('pending', 'delivered', 'failed')")
    for column in ("created_at", "last_attempt_at", "last_status", "wallet_id"):
        op.drop_column("webhook_deliveries", column)
    for column in (
        "updated_at",
        "disabled_reason",
        "description",
        "group_name",
        "wallet_ids",
        "previous_secret_expires_at",
        "previous_secret",
    ):
        op.drop_column("webhooks", column)
    op.execute("DROP TRIGGER outbox_notify ON outbox")
    op.execute("DROP FUNCTION walletsync_outbox_notify()")
    op.drop_index("ix_outbox_seq", table_name="outbox", postgresql_where=sa.text("seq IS NOT NULL"))
    op.drop_column("outbox", "seq")
    op.execute(sa.schema.DropSequence(sa.Sequence("outbox_seq")))
