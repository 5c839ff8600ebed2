"""Job bodies and schedules: `sync_wallet`, the due-wallet sweep, `sync_prices`, the job prune, the
token-metadata refresh.

Tasks get the process's `Services` from the worker's additional context. Every failed attempt is
recorded in `job_failures` by `record_failures` (Procrastinate keeps no error text), and every task,
periodic or not, retries with the one `RETRY_POLICY` (WALLETSYNC_JOB_MAX_ATTEMPTS attempts, exponential
backoff with full jitter, except errors that no retry can fix), then stays `failed` as a dead letter.
A task added elsewhere (e.g. `events/`) passes `retry=RETRY_POLICY` too; a unit test checks them all.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import procrastinate
import structlog
from procrastinate import JobContext, RetryDecision
from procrastinate.retry import BaseRetryStrategy
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from walletsync.db.models import job_failures, wallets
from walletsync.db.provider_endpoints import expire_stale_breakers
from walletsync.db.provider_stats import prune_provider_stats
from walletsync.errors import WalletsyncError
from walletsync.indexing.asset_refresh import AssetRefreshError, refresh_assets
from walletsync.indexing.sync import WalletBusyError, describe_error, sync_wallet
from walletsync.jobs.app import MAINTENANCE_QUEUE, MARKET_QUEUE, SYNC_QUEUE, app
from walletsync.jobs.retention import prune_jobs
from walletsync.jobs.sweep import sweep
from walletsync.market.errors import PriceSyncError
from walletsync.providers.errors import ProviderError
from walletsync.services import Services
from walletsync.wallets.repository import WalletNotFoundError

log = structlog.get_logger(__name__)

BACKOFF_BASE_S = 5.0
STALE_BREAKER_ROW = timedelta(hours=1)
BACKOFF_MAX_S = 600.0


class RetryPolicy(BaseRetryStrategy):
    """Retry up to WALLETSYNC_JOB_MAX_ATTEMPTS attempts, backing off 5 s · 2^n with full jitter (capped at 10 min).

    Errors that a retry cannot fix (a wallet that no longer exists, a chain with no endpoint, a
    provider rejecting our request or key) fail the job at once.
    """

    def __init__(self, *, max_attempts: int = 5, rng: random.Random | None = None) -> None:
        self.max_attempts = max_attempts  # the worker sets WALLETSYNC_JOB_MAX_ATTEMPTS here when it starts
        self._rng = rng or random.Random()

    def get_retry_decision(
        self, *, exception: BaseException, job: procrastinate.jobs.Job
    ) -> RetryDecision | None:
        attempts_so_far = job.attempts + 1
        if attempts_so_far >= self.max_attempts or not is_retryable(exception):
            return None
        ceiling = min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** (attempts_so_far - 1))
        delay = timedelta(seconds=self._rng.uniform(0, ceiling))
        return RetryDecision(retry_at=datetime.now(UTC) + delay)


def is_retryable(exception: BaseException) -> bool:
    if isinstance(exception, WalletBusyError):
        return True
    if isinstance(exception, PriceSyncError | AssetRefreshError):
        # Some provider calls failed after the rest was stored; a rerun fetches the stalest first.
        return True
    if isinstance(exception, ProviderError):
        return exception.retryable or exception.status in (502, 503, 504)
    # Domain errors (not found, invalid input, not configured) will fail the same way again.
    return not isinstance(exception, WalletsyncError)


def services_of(context: JobContext) -> Services:
    services = context.additional_context.get("services")
    if not isinstance(services, Services):
        raise RuntimeError("the worker was started without walletsync services")
    return services


RUNNING: set[int] = set()
"""Ids of the jobs this process runs now (the reaper never requeues those)."""


async def track_running(call_next: Any, context: JobContext, worker: Any) -> Any:
    """Worker middleware: keep `RUNNING` true while the job runs."""
    job_id = context.job.id
    if job_id is not None:
        RUNNING.add(job_id)
    try:
        return await call_next()
    finally:
        RUNNING.discard(job_id)


async def record_failures(call_next: Any, context: JobContext, worker: Any) -> Any:
    """Worker middleware: write each failed attempt's error where operators and the API read it."""
    try:
        return await call_next()
    except BaseException as exc:
        job = context.job
        services = context.additional_context.get("services")
        if isinstance(services, Services) and job.id is not None:
            async with services.db.write() as conn:
                await conn.execute(
                    insert(job_failures).values(
                        job_id=job.id,
                        task_name=job.task_name,
                        attempt=job.attempts + 1,
                        error=describe_error(exc)[:4000],
                    )
                )
        log.warning("job.failed", job_id=job.id, task=job.task_name, error=describe_error(exc))
        raise


RETRY_POLICY = RetryPolicy()


@app.task(name="sync_wallet", queue=SYNC_QUEUE, pass_context=True, retry=RETRY_POLICY)
async def sync_wallet_task(context: JobContext, wallet_id: int) -> dict[str, Any]:
    """Sync one wallet to its chain head. A wallet removed since the job was queued (before or during
    the sync) ends the job as a no-op: there is nothing left to sync, so no retry and no dead letter."""
    services = services_of(context)
    try:
        report = await sync_wallet(
            services.db,
            wallet_id,
            adapters=services.adapters,
            settings=services.settings,
            on_new_transactions=services.invalidate_wallet,
        )
    except WalletNotFoundError:
        return _wallet_gone(wallet_id)
    except IntegrityError:
        async with services.db.read() as conn:  # removed mid-sync: its facts lost their wallet row
            if await conn.scalar(select(wallets.c.id).where(wallets.c.id == wallet_id)) is not None:
                raise
        return _wallet_gone(wallet_id)
    return {"new_transactions": report.new_transactions, "seconds": round(report.seconds, 3)}


def _wallet_gone(wallet_id: int) -> dict[str, Any]:
    log.info("sync.skipped", wallet_id=wallet_id, reason="wallet removed")
    return {"skipped": "wallet removed", "wallet_id": wallet_id}


@app.periodic(cron="* * * * *", periodic_id="sweep")
@app.task(
    name="sweep_due_wallets",
    queue=MAINTENANCE_QUEUE,
    queueing_lock="sweep",
    pass_context=True,
    retry=RETRY_POLICY,
)
async def sweep_due_wallets(context: JobContext, timestamp: int) -> int:
    """Enqueue a sync for every wallet whose next sync time has come; return how many were queued."""
    return await sweep(services_of(context).db, now=datetime.now(UTC))


@app.periodic(cron="7 * * * *", periodic_id="prices")
@app.task(
    name="sync_prices",
    queue=MARKET_QUEUE,
    queueing_lock="sync_prices",
    pass_context=True,
    retry=RETRY_POLICY,
)
async def sync_prices_task(context: JobContext, timestamp: int | None = None) -> dict[str, Any]:
    """Ingest catalogs and candles from Twelve Data (or the simulator) within the credit budget."""
    services = services_of(context)
    return await services.sync_prices()


@app.periodic(cron="17 * * * *", periodic_id="prune_jobs")
@app.task(
    name="prune_jobs",
    queue=MAINTENANCE_QUEUE,
    queueing_lock="prune_jobs",
    pass_context=True,
    retry=RETRY_POLICY,
)
async def prune_jobs_task(context: JobContext, timestamp: int | None = None) -> dict[str, int]:
    """Delete jobs that ended longer ago than WALLETSYNC_JOB_RETENTION (failed: _FAILED_RETENTION),
    close breaker rows no process has written for an hour, and delete provider statistics older than
    WALLETSYNC_PROVIDER_STATS_RETENTION."""
    services = services_of(context)
    report = await prune_jobs(
        services.db,
        now=datetime.now(UTC),
        retention=services.settings.job_retention,
        failed_retention=services.settings.job_failed_retention,
    )
    expired = await expire_stale_breakers(services.db, now=datetime.now(UTC), older_than=STALE_BREAKER_ROW)
    stats = await prune_provider_stats(
        services.db, now=datetime.now(UTC), retention=services.settings.provider_stats_retention
    )
    log.info("jobs.pruned", **report.as_dict(), stale_breakers_closed=expired, provider_stats_deleted=stats)
    return {**report.as_dict(), "stale_breakers_closed": expired, "provider_stats_deleted": stats}


@app.periodic(cron="41 * * * *", periodic_id="refresh_asset_metadata")
@app.task(
    name="refresh_asset_metadata",
    queue=MAINTENANCE_QUEUE,
    queueing_lock="refresh_asset_metadata",
    pass_context=True,
    retry=RETRY_POLICY,
)
async def refresh_asset_metadata_task(context: JobContext, timestamp: int | None = None) -> dict[str, Any]:
    """Re-read token names, symbols and decimals older than WALLETSYNC_ASSET_METADATA_TTL (a bounded
    number per run, stalest first); wallets holding a changed asset get their cached reads dropped."""
    services = services_of(context)
    report = await refresh_assets(
        services.db,
        services.adapters,
        now=datetime.now(UTC),
        ttl=services.settings.asset_metadata_ttl,
        limit=services.settings.asset_metadata_refresh_limit,
        invalidate=services.invalidate_wallet,
    )
    return report.as_dict()
