"""Every job task retries with the one policy, so WALLETSYNC_JOB_MAX_ATTEMPTS applies to all of them."""

from __future__ import annotations

from datetime import UTC, datetime

import procrastinate
import pytest

import walletsync.events.tasks  # registers the events tasks
import walletsync.jobs.tasks  # noqa: F401 - registers the tasks
from walletsync.indexing.asset_refresh import AssetRefreshError, RefreshReport
from walletsync.indexing.sync import WalletBusyError
from walletsync.jobs.app import app
from walletsync.jobs.supervise import restart_delay
from walletsync.jobs.tasks import RETRY_POLICY, is_retryable
from walletsync.market.errors import PriceSyncError
from walletsync.market.sync import PriceSyncReport
from walletsync.wallets.repository import WalletNotFoundError


def _ours() -> dict[str, procrastinate.tasks.Task]:  # type: ignore[type-arg]
    return {
        name: task for name, task in app.tasks.items() if not name.startswith(("builtin:", "procrastinate."))
    }


def test_every_task_and_schedule_uses_the_shared_retry_policy() -> None:
    """Periodic tasks included: a failing sweep, price sync or prune is retried, then dead-lettered."""
    tasks = _ours()
    assert {"sync_wallet", "sweep_due_wallets", "sync_prices", "prune_jobs", "refresh_asset_metadata"} <= set(
        tasks
    )
    assert {name: task.retry_strategy is RETRY_POLICY for name, task in tasks.items()} == dict.fromkeys(
        tasks, True
    )
    periodic = {p.task.name for p in app.periodic_registry.periodic_tasks.values()}
    assert {"sweep_due_wallets", "sync_prices", "prune_jobs", "refresh_asset_metadata"} <= periodic


def _job(attempts: int) -> procrastinate.jobs.Job:
    return procrastinate.jobs.Job(
        id=1, queue="q", lock=None, queueing_lock=None, task_name="t", attempts=attempts
    )


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (PriceSyncError(PriceSyncReport(started_at=datetime(2026, 11, 29, tzinfo=UTC))), True),
        (AssetRefreshError(RefreshReport(checked=3, failed={"mint": "HTTP 503"})), True),
        (WalletBusyError("busy"), True),
        (ConnectionResetError("db gone"), True),
        (WalletNotFoundError("no wallet 7"), False),
    ],
)
def test_which_errors_are_retried(error: BaseException, retryable: bool) -> None:
    assert is_retryable(error) is retryable


def test_max_attempts_counts_every_attempt() -> None:
    """With 3 attempts: the 1st and 2nd failures are retried, the 3rd is final."""
    RETRY_POLICY.max_attempts = 3
    try:
        decisions = [RETRY_POLICY.get_retry_decision(exception=OSError(), job=_job(n)) for n in range(3)]
    finally:
        RETRY_POLICY.max_attempts = 5
    assert [d is not None for d in decisions] == [True, True, False]


def test_a_worker_that_keeps_ending_is_restarted_more_and_more_slowly() -> None:
    """The first restart after an outage is immediate; a tight crash loop backs off to 10 s."""
    assert [restart_delay(n) for n in range(8)] == [0.0, 0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 10.0]
