"""Deferring syncs and the `/v1/jobs` routes: show, list by status, retry (admin)."""

from __future__ import annotations

import os
from typing import Any

import base58
import pytest
from sqlalchemy import func, insert, select

from tests.integration.api.conftest import Api, Keys, seed_wallet_history
from walletsync.config import Settings
from walletsync.db.engine import Database
from walletsync.db.models import job_failures
from walletsync.jobs.tables import procrastinate_jobs

pytestmark = pytest.mark.redis


async def _failed_job(api: Api, wallet_id: int, error: str = "RPC said no") -> int:
    async with api.db.write() as conn:
        job_id = (
            await conn.execute(
                insert(procrastinate_jobs)
                .values(
                    queue_name="sync",
                    task_name="sync_wallet",
                    priority=0,
                    lock=f"wallet-{wallet_id}",
                    queueing_lock=f"sync-wallet-{wallet_id}",
                    args={"wallet_id": wallet_id},
                    status="failed",
                    attempts=5,
                    abort_requested=False,
                )
                .returning(procrastinate_jobs.c.id)
            )
        ).scalar_one()
        await conn.execute(
            insert(job_failures).values(job_id=job_id, task_name="sync_wallet", attempt=5, error=error)
        )
    return int(job_id)


async def test_post_sync_defers_one_job_and_returns_202(api: Api, keys: Keys) -> None:
    """POST /sync answers 202 with a job id at once; asking again while it waits returns the same job."""
    seeded = await seed_wallet_history(api.db, n_txs=1)
    first = await api.client.post(f"/v1/wallets/{seeded.wallet_id}/sync", headers=keys.write)
    assert first.status_code == 202, first.text
    job_id = first.json()["job_id"]
    assert first.headers["location"] == f"/v1/jobs/{job_id}"
    second = await api.client.post(f"/v1/wallets/{seeded.wallet_id}/sync", headers=keys.write)
    assert second.json()["job_id"] == job_id
    async with api.db.read() as conn:
        rows = (await conn.execute(select(procrastinate_jobs.c.id, procrastinate_jobs.c.status))).all()
    assert [(r.id, r.status) for r in rows] == [(job_id, "todo")]

    job = (await api.client.get(f"/v1/jobs/{job_id}", headers=keys.read)).json()
    assert (job["task_name"], job["status"], job["args"]) == (
        "sync_wallet",
        "todo",
        {"wallet_id": seeded.wallet_id},
    )


async def test_post_sync_of_unknown_wallet_is_404(api: Api, keys: Keys) -> None:
    """No job is queued for a wallet that does not exist."""
    response = await api.client.post("/v1/wallets/777/sync", headers=keys.write)
    assert response.status_code == 404
    async with api.db.read() as conn:
        assert (await conn.execute(select(procrastinate_jobs.c.id))).all() == []


async def test_list_failed_jobs_and_retry_as_admin(api: Api, keys: Keys) -> None:
    """GET /jobs?status=failed lists failed jobs with their last error; an admin retry requeues one."""
    seeded = await seed_wallet_history(api.db, n_txs=1)
    failed_id = await _failed_job(api, seeded.wallet_id)
    listed = (await api.client.get("/v1/jobs", params={"status": "failed"}, headers=keys.read)).json()
    assert [(j["id"], j["last_error"], j["attempts"]) for j in listed["items"]] == [
        (failed_id, "RPC said no", 5)
    ]
    assert (await api.client.get("/v1/jobs", params={"status": "todo"}, headers=keys.read)).json()[
        "items"
    ] == []

    forbidden = await api.client.post(f"/v1/jobs/{failed_id}/retry", headers=keys.write)
    assert forbidden.status_code == 403
    retried = await api.client.post(f"/v1/jobs/{failed_id}/retry", headers=keys.admin)
    assert retried.status_code == 200, retried.text
    assert (retried.json()["id"], retried.json()["status"], retried.json()["attempts"]) == (
        failed_id,
        "todo",
        0,
    )

    again = await api.client.post(f"/v1/jobs/{failed_id}/retry", headers=keys.admin)
    assert again.status_code == 409
    assert "only failed jobs" in again.json()["detail"]


async def test_jobs_list_paginates_newest_first(api: Api, keys: Keys) -> None:
    """Jobs come newest first and the cursor walks them without repeats."""
    seeded = await seed_wallet_history(api.db, n_txs=1)
    ids = [await _failed_job(api, seeded.wallet_id, error=f"e{i}") for i in range(5)]
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await api.client.get("/v1/jobs", params=params, headers=keys.read)).json()
        seen.extend(j["id"] for j in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(ids, reverse=True)


async def test_cancel_job_as_admin(api: Api, keys: Keys) -> None:
    """POST /jobs/{id}/cancel needs an admin key, cancels a waiting job, and is 409 once it ended."""
    seeded = await seed_wallet_history(api.db, n_txs=1)
    queued = await api.client.post(f"/v1/wallets/{seeded.wallet_id}/sync", headers=keys.write)
    job_id = queued.json()["job_id"]

    forbidden = await api.client.post(f"/v1/jobs/{job_id}/cancel", headers=keys.write)
    assert forbidden.status_code == 403
    cancelled = await api.client.post(f"/v1/jobs/{job_id}/cancel", headers=keys.admin)
    assert cancelled.status_code == 200, cancelled.text
    assert (cancelled.json()["status"], cancelled.json()["last_error"]) == (
        "cancelled",
        "Cancelled by an operator (was todo)",
    )
    again = await api.client.post(f"/v1/jobs/{job_id}/cancel", headers=keys.admin)
    assert again.status_code == 409
    assert again.json()["detail"] == f"job {job_id} is cancelled; only todo and doing jobs can be cancelled"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/v1/jobs/9999", 404),
        ("POST", "/v1/jobs/9999/retry", 404),
        ("POST", "/v1/jobs/9999/cancel", 404),
        ("GET", "/v1/jobs?status=exploded", 422),
        ("GET", "/v1/jobs/-1", 422),
    ],
)
async def test_job_errors(api: Api, keys: Keys, method: str, path: str, status: int) -> None:
    """Unknown jobs are 404; unknown statuses and bad ids are 422."""
    response = await api.client.request(method, path, headers=keys.admin)
    assert response.status_code == status
    assert response.json()["status"] == status


async def test_sync_and_add_wallet_twelve_times_on_one_pooled_connection(
    make_api: Any, api_settings: Settings, database_url: str, keys: Keys
) -> None:
    """POST /sync and POST /v1/wallets keep answering 202/201 past the 5th use of one connection.

    PostgreSQL plans a prepared statement generically from its 6th execution; deferral must not
    depend on a bind parameter to find its ON CONFLICT index.
    """
    single = api_settings.model_copy(update={"database_pool_size": 1, "database_max_overflow": 0})
    database = Database.from_settings(database_url, single)
    try:
        api: Api = await make_api(single, database=database)
        seeded = await seed_wallet_history(api.db, n_txs=1)
        sync_statuses = [
            (await api.client.post(f"/v1/wallets/{seeded.wallet_id}/sync", headers=keys.write)).status_code
            for _ in range(12)
        ]
        add_statuses = []
        for _ in range(12):
            address = base58.b58encode(os.urandom(32)).decode()
            response = await api.client.post(
                "/v1/wallets", json={"chain": "solana", "address": address}, headers=keys.write
            )
            add_statuses.append(response.status_code)
    finally:
        await database.dispose()
    assert sync_statuses == [202] * 12
    assert add_statuses == [201] * 12
    async with api.db.read() as conn:
        waiting = (
            await conn.execute(select(func.count()).where(procrastinate_jobs.c.status == "todo"))
        ).scalar_one()
    assert waiting == 13  # one per wallet: the 12 POSTs to /sync share one waiting job


async def test_job_errors_are_one_line_without_sql(api: Api, keys: Keys) -> None:
    """A driver's error carries the statement and its parameters; a read key sees the first line only."""
    seeded = await seed_wallet_history(api.db, n_txs=1)
    error = (
        "ProgrammingError: (sqlalchemy.dialects.postgresql.asyncpg.ProgrammingError) there is no unique"
        " constraint matching the ON CONFLICT specification\n"
        "[SQL: INSERT INTO procrastinate_jobs (queue_name) VALUES ($1::VARCHAR)]\n"
        "[parameters: ('sync', 'secret-label')]\n(Background on this error at: https://sqlalche.me/e/21/f405)"
    )
    job_id = await _failed_job(api, seeded.wallet_id, error=error)
    listed = (await api.client.get("/v1/jobs", headers=keys.read)).json()["items"]
    shown = (await api.client.get(f"/v1/jobs/{job_id}", headers=keys.read)).json()
    expected = (
        "ProgrammingError: (sqlalchemy.dialects.postgresql.asyncpg.ProgrammingError) there is no unique"
        " constraint matching the ON CONFLICT specification"
    )
    assert [job["last_error"] for job in listed] == [expected]
    assert shown["last_error"] == expected
    long_id = await _failed_job(api, seeded.wallet_id + 1, error="x" * 5000)
    assert len((await api.client.get(f"/v1/jobs/{long_id}", headers=keys.read)).json()["last_error"]) == 300
