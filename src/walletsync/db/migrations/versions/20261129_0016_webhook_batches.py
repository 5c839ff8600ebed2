"""Opt-in webhook batching (issue 12): `webhooks.batch_size` and `webhook_deliveries.batch_head`.

`batch_size` (1 = one event per request, the default and the behaviour before this revision) lets
one signed request carry up to that many events of one wallet. `batch_head` fixes a batch's
composition when it is first sent (the id of its first delivery, on each of its rows), so a retry
sends the same events under the same `webhook-id`. Both additive; downgrade drops them (pending
batched deliveries then go out one by one, which receivers handle as before).

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("webhooks", sa.Column("batch_size", sa.Integer(), server_default="1", nullable=False))
    op.create_check_constraint(op.f("ck_webhooks_batch_size"), "webhooks", "batch_size BETWEEN 1 AND 100")
    op.add_column("webhook_deliveries", sa.Column("batch_head", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    op.drop_column("webhook_deliveries", "batch_head")
    op.drop_constraint(op.f("ck_webhooks_batch_size"), "webhooks", type_="check")
    op.drop_column("webhooks", "batch_size")
