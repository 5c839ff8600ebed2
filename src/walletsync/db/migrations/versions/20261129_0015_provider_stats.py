"""Provider request statistics shared across processes for the operations page (issue 15).

`provider_stats`: requests, errors, 429s and rate-limit waits per provider endpoint and minute, summed
over every process (each flushes its in-memory counts every few seconds). Pruned by age
(`WALLETSYNC_PROVIDER_STATS_RETENTION`, the hourly `prune_jobs` task).

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _counter(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger(), server_default="0", nullable=False)


def upgrade() -> None:
    op.create_table(
        "provider_stats",
        sa.Column("provider", sa.Text(), nullable=False),
        sa.Column("endpoint", sa.Text(), nullable=False),
        sa.Column("minute", sa.DateTime(timezone=True), nullable=False),
        _counter("requests"),
        _counter("errors"),
        _counter("rate_limited"),
        _counter("throttle_wait_ms"),
        _counter("throttle_wait_max_ms"),
        sa.Column("waits", postgresql.ARRAY(sa.BigInteger()), nullable=False),
        sa.PrimaryKeyConstraint("provider", "endpoint", "minute", name=op.f("pk_provider_stats")),
    )
    op.create_index("ix_provider_stats_minute", "provider_stats", ["minute"], unique=False)


def downgrade() -> None:
    op.drop_table("provider_stats")
