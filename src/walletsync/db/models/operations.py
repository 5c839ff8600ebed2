"""Access and operations: API keys and the dashboard's sessions and sign-in links, provider endpoints'
breaker state and per-minute statistics, and job failures.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY

from walletsync.db.models.base import created_at, metadata

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("name", Text, nullable=False),
    Column("key_prefix", Text, nullable=False),
    Column("key_hash", Text, nullable=False),
    Column("scopes", ARRAY(Text), nullable=False),
    created_at(),
    Column("revoked_at", DateTime(timezone=True)),
    UniqueConstraint("key_hash"),
    Index("ix_api_keys_key_prefix", "key_prefix"),
)

provider_endpoints = Table(
    "provider_endpoints",
    metadata,
    Column("provider", Text, nullable=False),
    Column("url", Text, nullable=False),
    Column("weight", Integer, nullable=False, server_default="1"),
    Column("breaker_state", Text, nullable=False, server_default="closed"),
    Column("consecutive_failures", Integer, nullable=False, server_default="0"),
    Column("opened_at", DateTime(timezone=True)),
    Column("last_error", Text),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("provider", "url"),
    CheckConstraint("breaker_state IN ('closed', 'open', 'half_open')", name="breaker_state"),
)

provider_stats = Table(
    "provider_stats",
    metadata,
    # Per endpoint and minute, summed over every process (`db.provider_stats`); the operations page
    # reads the last 5 minutes and hour. `endpoint` is the display name `host#hash6`, never a URL.
    Column("provider", Text, nullable=False),
    Column("endpoint", Text, nullable=False),
    Column("minute", DateTime(timezone=True), nullable=False),
    Column("requests", BigInteger, nullable=False, server_default="0"),
    Column("errors", BigInteger, nullable=False, server_default="0"),
    Column("rate_limited", BigInteger, nullable=False, server_default="0"),
    Column("throttle_wait_ms", BigInteger, nullable=False, server_default="0"),
    Column("throttle_wait_max_ms", BigInteger, nullable=False, server_default="0"),
    # Attempts by rate-limit wait: <= 10 ms, <= 100 ms, <= 1 s, <= 10 s, longer (`providers.stats`).
    Column("waits", ARRAY(BigInteger), nullable=False),
    PrimaryKeyConstraint("provider", "endpoint", "minute"),
    # Retention deletes by age, the page reads recent minutes.
    Index("ix_provider_stats_minute", "minute"),
)

job_failures = Table(
    "job_failures",
    metadata,
    # Procrastinate keeps no error text on its job rows; operators and the API read it here.
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("job_id", BigInteger, nullable=False),
    Column("task_name", Text, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("error", Text, nullable=False),
    created_at(),
    Index("ix_job_failures_job_id", "job_id"),
    # Retention deletes failures by age (`jobs.retention`).
    Index("ix_job_failures_created_at", "created_at"),
)

# --- web dashboard (0012) ---------------------------------------------------------------------------
# A dashboard session: the browser holds a random token, the table its SHA-256 and the API key it acts
# as, so signing out, expiry and revoking the key each end it at once. Expired rows are deleted on the
# next sign-in (`web/sessions.py`).
web_sessions = Table(
    "web_sessions",
    metadata,
    Column("token_hash", Text, primary_key=True),
    Column("api_key_id", BigInteger, ForeignKey("api_keys.id", ondelete="CASCADE"), nullable=False),
    Column("csrf_token", Text, nullable=False),
    created_at(),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Index("ix_web_sessions_expires_at", "expires_at"),
    Index("ix_web_sessions_api_key_id", "api_key_id"),
)

# A one-time sign-in link (`walletsync demo` / `serve` print it): consumed by deleting the row.
web_signin_tokens = Table(
    "web_signin_tokens",
    metadata,
    Column("token_hash", Text, primary_key=True),
    Column("api_key_id", BigInteger, ForeignKey("api_keys.id", ondelete="CASCADE"), nullable=False),
    created_at(),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Index("ix_web_signin_tokens_expires_at", "expires_at"),
    Index("ix_web_signin_tokens_api_key_id", "api_key_id"),
)
