"""Indexing and job settings: sync cadence and batch sizes, raw transaction storage, staking reads,
job attempts, workers (concurrency, heartbeats, reconnecting), job retention, and how provider
statistics are flushed and kept.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, Field, field_validator

from walletsync.config.fields import alias, seconds_or_duration


class JobSettings(BaseModel):
    """`WALLETSYNC_SYNC_*`, `WALLETSYNC_JOB_*`, `WALLETSYNC_WORKER_*`, `WALLETSYNC_PROVIDER_STATS_*`, and
    `WALLETSYNC_STORE_RAW_TRANSACTIONS`, `WALLETSYNC_STAKING`."""

    sync_interval_s: int = Field(default=300, ge=1, validation_alias=alias("WALLETSYNC_SYNC_INTERVAL"))
    # getTransaction calls per Solana JSON-RPC batch; public RPCs commonly cap batches near 100.
    sync_batch_size: int = Field(
        default=100, ge=1, le=1000, validation_alias=alias("WALLETSYNC_SYNC_BATCH_SIZE")
    )
    sync_fetch_concurrency: int = Field(
        default=64, ge=1, le=1024, validation_alias=alias("WALLETSYNC_SYNC_FETCH_CONCURRENCY")
    )
    store_raw_transactions: bool = Field(
        default=True, validation_alias=alias("WALLETSYNC_STORE_RAW_TRANSACTIONS")
    )
    # Native staking lines (`indexing.staking`); off for an RPC endpoint that refuses getProgramAccounts.
    staking: bool = Field(default=True, validation_alias=alias("WALLETSYNC_STAKING"))
    job_max_attempts: int = Field(
        default=5, ge=1, le=100, validation_alias=alias("WALLETSYNC_JOB_MAX_ATTEMPTS")
    )
    worker_concurrency: int = Field(
        default=4, ge=1, le=256, validation_alias=alias("WALLETSYNC_WORKER_CONCURRENCY")
    )
    worker_heartbeat_s: float = Field(
        default=10.0, gt=0, le=300, validation_alias=alias("WALLETSYNC_WORKER_HEARTBEAT_INTERVAL")
    )
    # A job whose worker has not sent a heartbeat for this long is requeued (the worker died).
    worker_stalled_after_s: float = Field(
        default=60.0, gt=0, le=3600, validation_alias=alias("WALLETSYNC_WORKER_STALLED_AFTER")
    )
    # A worker that loses PostgreSQL waits this long for it (reconnecting with backoff), then exits 75.
    worker_reconnect_timeout_s: float = Field(
        default=300.0, gt=0, le=86400, validation_alias=alias("WALLETSYNC_WORKER_RECONNECT_TIMEOUT")
    )
    # Jobs that ended are deleted this long after (seconds, or an ISO 8601 duration such as P7D);
    # failed ones (the dead-letter list) are kept longer, with their recorded errors.
    job_retention: timedelta = Field(
        default=timedelta(days=7), gt=timedelta(0), validation_alias=alias("WALLETSYNC_JOB_RETENTION")
    )
    job_failed_retention: timedelta = Field(
        default=timedelta(days=30),
        gt=timedelta(0),
        validation_alias=alias("WALLETSYNC_JOB_FAILED_RETENTION"),
    )

    # Provider statistics (the operations page): each process writes its counts this often (seconds)
    # and at exit; minutes older than the retention are deleted by the hourly prune job.
    provider_stats_flush_s: float = Field(
        default=10.0, gt=0, le=3600, validation_alias=alias("WALLETSYNC_PROVIDER_STATS_FLUSH")
    )
    provider_stats_retention: timedelta = Field(
        default=timedelta(hours=48),
        ge=timedelta(hours=1),
        validation_alias=alias("WALLETSYNC_PROVIDER_STATS_RETENTION"),
    )

    @field_validator("job_retention", "job_failed_retention", "provider_stats_retention", mode="before")
    @classmethod
    def _retention_seconds_or_duration(cls, value: object) -> object:
        return seconds_or_duration(value)
