"""Market data operations: the daily credit budget, a latest-close index, `candles_daily_close`.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21

`candles_daily_close` is a continuous aggregate where `candles` is a hypertable (TimescaleDB) and a
plain view otherwise; see `walletsync.db.timescale.create_daily_close_view`.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from walletsync.db import timescale

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "provider_credits",
        sa.Column("provider", sa.Text(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("used", sa.Integer(), server_default="0", nullable=False),
        sa.Column("catalogs_refreshed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("used >= 0", name=op.f("ck_provider_credits_used")),
        sa.PrimaryKeyConstraint("provider", "day", name=op.f("pk_provider_credits")),
    )
    op.create_index("ix_candles_instrument_ts", "candles", ["instrument_id", "ts"], unique=False)
    timescale.create_daily_close_view(op.get_bind())


def downgrade() -> None:
    timescale.drop_daily_close_view(op.get_bind())
    op.drop_index("ix_candles_instrument_ts", table_name="candles")
    op.drop_table("provider_credits")
