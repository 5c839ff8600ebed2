"""Operations: indexes for job retention.

- `ix_procrastinate_events_ended_at`: the events that end a job, by time, so the hourly prune
  (`walletsync.jobs.retention`) finds jobs that ended before the cut-off without reading every event.
  It sits on Procrastinate's table; Procrastinate's migrations neither know nor drop it (a dropped
  table takes it along).
- `ix_job_failures_created_at`: failures are pruned by age.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_procrastinate_events_ended_at",
        "procrastinate_events",
        ["at"],
        postgresql_where=sa.text("type IN ('succeeded', 'failed', 'cancelled', 'aborted')"),
    )
    op.create_index("ix_job_failures_created_at", "job_failures", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_job_failures_created_at", table_name="job_failures")
    op.drop_index("ix_procrastinate_events_ended_at", table_name="procrastinate_events")
