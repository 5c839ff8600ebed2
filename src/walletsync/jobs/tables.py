"""Procrastinate's own tables as SQLAlchemy Core objects, so we query and defer jobs on our connections.

They live in a MetaData of their own: Procrastinate's migration revision owns them, and Alembic's
autogenerate never sees them. Only the columns walletsync reads or writes are declared.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, DateTime, Integer, MetaData, String, Table, Text
from sqlalchemy.dialects.postgresql import ENUM, JSONB

procrastinate_metadata = MetaData()

JOB_STATUSES = ("todo", "doing", "succeeded", "failed", "cancelled", "aborting", "aborted")
job_status = ENUM(*JOB_STATUSES, name="procrastinate_job_status", create_type=False)
EVENT_TYPES = (
    "deferred",
    "started",
    "deferred_for_retry",
    "failed",
    "succeeded",
    "cancelled",
    "abort_requested",
    "aborted",
    "scheduled",
    "retried",
)
event_type = ENUM(*EVENT_TYPES, name="procrastinate_job_event_type", create_type=False)

procrastinate_jobs = Table(
    "procrastinate_jobs",
    procrastinate_metadata,
    Column("id", BigInteger, primary_key=True),
    Column("queue_name", String(128), nullable=False),
    Column("task_name", String(128), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("lock", Text),
    Column("queueing_lock", Text),
    Column("args", JSONB, nullable=False),
    Column("status", job_status, nullable=False),
    Column("scheduled_at", DateTime(timezone=True)),
    Column("attempts", Integer, nullable=False),
    Column("abort_requested", Boolean, nullable=False),
    Column("worker_id", BigInteger),
)

procrastinate_events = Table(
    "procrastinate_events",
    procrastinate_metadata,
    Column("id", BigInteger, primary_key=True),
    Column("job_id", BigInteger, nullable=False),
    Column("type", event_type),
    Column("at", DateTime(timezone=True)),
)

procrastinate_workers = Table(
    "procrastinate_workers",
    procrastinate_metadata,
    Column("id", BigInteger, primary_key=True),
    Column("last_heartbeat", DateTime(timezone=True), nullable=False),
)
