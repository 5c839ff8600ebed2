"""`walletsync doctor`: checks of the database, the job workers and queue, Redis and every provider endpoint.

Each row is ok, warn (works, but something an operator should know), FAIL, or skipped. A network
probe that fails is tried once more after `RETRY_DELAY_S` before it is reported as FAIL, so one
dropped packet does not send an operator chasing an outage.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import httpx
from sqlalchemy import func, select

from walletsync.config import Settings, env_name
from walletsync.db import migrate
from walletsync.db.engine import make_engine
from walletsync.jobs.tables import procrastinate_events, procrastinate_jobs, procrastinate_workers
from walletsync.providers.endpoints import display_name, url_secrets
from walletsync.runtime import prepare_database

CHECK_TIMEOUT_S = 5.0
RETRY_DELAY_S = 1.0


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    ok: bool
    detail: str
    skipped: bool = False
    warning: bool = False  # ok, with something to look at (shown as "warn"; doctor still exits 0)


def run_checks(settings: Settings) -> list[CheckResult]:
    database, url = _check_database(settings)
    results = [database]
    results.extend(asyncio.run(_async_checks(settings, url if database.ok else None)))
    return results


def _check_database(settings: Settings) -> tuple[CheckResult, str | None]:
    try:
        target = prepare_database(settings, auto_migrate=False)
        status = migrate.status(target.migration_url)
        version = asyncio.run(_server_version(target.url, settings))
    except Exception as exc:  # noqa: BLE001 - doctor reports every failure as a row
        detail = exc.detail if hasattr(exc, "detail") else _one_line(exc)
        return CheckResult("database", False, str(detail)), None
    schema = "schema up to date" if status.up_to_date else f"pending migrations: {', '.join(status.pending)}"
    result = CheckResult("database", status.up_to_date, f"{target.describe(settings)}; {version}; {schema}")
    return result, target.url if status.up_to_date else None


async def _server_version(url: str, settings: Settings) -> str:
    engine = make_engine(url, settings, application_name="walletsync-doctor")
    try:
        async with engine.connect() as conn:
            version = await conn.scalar(select(func.version()))
    finally:
        await engine.dispose()
    return str(version).split(" on ")[0]


async def _async_checks(settings: Settings, database_url: str | None) -> list[CheckResult]:
    results: list[CheckResult] = []
    if database_url is not None:
        results.extend(await _check_jobs(settings, database_url))
    checks = [_twice(lambda: _check_redis(settings))]
    async with httpx.AsyncClient(timeout=CHECK_TIMEOUT_S) as client:
        for name, url in _endpoints("solana", settings.solana_rpc_urls):
            checks.append(_twice(_bind(_check_solana, client, name, url)))
        for name, url in _endpoints("blockfrost", settings.blockfrost_urls):
            checks.append(_twice(_bind(_check_blockfrost, client, name, url, settings.blockfrost_project_id)))
        for name, url in _endpoints("twelvedata", settings.twelvedata_urls):
            checks.append(_twice(_bind(_check_twelvedata, client, name, url, settings.twelvedata_api_key)))
        results.extend(await asyncio.gather(*checks))
    results.extend(_key_warnings(settings))
    if settings.uses_simulator:
        results.append(
            CheckResult(
                "providers",
                True,
                "no providers configured: wallets cannot sync and prices cannot update (set "
                f"{env_name('solana_rpc_urls')}, {env_name('blockfrost_urls')}, {env_name('twelvedata_urls')}; "
                "`walletsync demo` runs against the bundled simulator)",
                warning=True,
            )
        )
    return results


def _endpoints(provider: str, urls: list[str]) -> list[tuple[str, str]]:
    """Row names that tell endpoints apart: `solana rpc.example:8899#3fa9c1`, the endpoint's display name
    (never a path or query, which may carry a key; the hash differs per URL)."""
    return [(f"{provider} {display_name(url)}", url) for url in urls]


def _provider_failure(name: str, url: str, exc: Exception) -> CheckResult:
    """A failed probe's row; the exception text (which may quote the URL) without the URL's secrets."""
    text = _one_line(exc)
    for secret in sorted((s for s in url_secrets(url) if len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, "***")
    return CheckResult(name, False, text)


def _bind(
    check: Callable[..., Awaitable[CheckResult]], *args: object
) -> Callable[[], Awaitable[CheckResult]]:
    return lambda: check(*args)


async def _twice(probe: Callable[[], Awaitable[CheckResult]]) -> CheckResult:
    """Run `probe`; on FAIL, once more after RETRY_DELAY_S."""
    first = await probe()
    if first.ok or first.skipped:
        return first
    await asyncio.sleep(RETRY_DELAY_S)
    second = await probe()
    if second.ok:
        return replace(second, detail=f"{second.detail} (failed once, then answered)", warning=True)
    return replace(second, detail=f"{second.detail} (failed twice, {RETRY_DELAY_S:.0f} s apart)")


def _key_warnings(settings: Settings) -> list[CheckResult]:
    """A provider URL without its key: blockfrost.io and Twelve Data refuse every request."""
    pairs = (
        (
            "blockfrost",
            "blockfrost_urls",
            settings.blockfrost_urls,
            "blockfrost_project_id",
            settings.blockfrost_project_id,
        ),
        (
            "twelvedata",
            "twelvedata_urls",
            settings.twelvedata_urls,
            "twelvedata_api_key",
            settings.twelvedata_api_key,
        ),
    )
    return [
        CheckResult(
            f"{provider} key",
            True,
            f"{env_name(urls_field)} is set but {env_name(key_field)} is not: the hosted service answers "
            "401/403 without it (a self-hosted endpoint may not need one)",
            warning=True,
        )
        for provider, urls_field, urls, key_field, key in pairs
        if urls and not key
    ]


async def _check_jobs(settings: Settings, url: str) -> list[CheckResult]:
    """Live workers (heartbeat within WORKER_STALLED_AFTER) and how long the oldest due job has waited."""
    engine = make_engine(url, settings, application_name="walletsync-doctor")
    deferred = (
        select(procrastinate_events.c.job_id, func.min(procrastinate_events.c.at).label("at"))
        .where(procrastinate_events.c.type == "deferred")
        .group_by(procrastinate_events.c.job_id)
        .subquery()
    )
    due = func.coalesce(procrastinate_jobs.c.scheduled_at, deferred.c.at)
    try:
        async with engine.connect() as conn:
            now = datetime.now(UTC)
            heartbeats = (await conn.execute(select(procrastinate_workers.c.last_heartbeat))).scalars().all()
            waiting, oldest = (
                await conn.execute(
                    select(func.count(), func.min(due))
                    .select_from(
                        procrastinate_jobs.outerjoin(deferred, deferred.c.job_id == procrastinate_jobs.c.id)
                    )
                    .where(procrastinate_jobs.c.status == "todo", due <= func.now())
                )
            ).one()
    except Exception as exc:  # noqa: BLE001 - doctor reports every failure as a row
        return [CheckResult("workers", False, _one_line(exc))]
    finally:
        await engine.dispose()
    live = [at for at in heartbeats if (now - at).total_seconds() <= settings.worker_stalled_after_s]
    if live:
        newest = min((now - at).total_seconds() for at in live)
        workers = CheckResult("workers", True, f"{len(live)} live (last heartbeat {newest:.0f} s ago)")
    else:
        workers = CheckResult(
            "workers",
            True,
            "no live worker: syncs and price updates will not run (start `walletsync worker` or `serve`)",
            warning=True,
        )
    age = (now - oldest).total_seconds() if oldest is not None else 0.0
    limit = max(60.0, float(settings.sync_interval_s))
    detail = f"{waiting} job(s) due" + (f", the oldest waiting {age:.0f} s" if waiting else "")
    stuck = waiting > 0 and age > limit
    queue = CheckResult(
        "queue",
        True,
        detail + (f" (more than {limit:.0f} s: workers are behind or absent)" if stuck else ""),
        warning=stuck,
    )
    return [workers, queue]


async def _check_redis(settings: Settings) -> CheckResult:
    if not settings.redis_url:
        return CheckResult("redis", True, f"{env_name('redis_url')} unset: in-process cache", skipped=True)
    from redis.asyncio import from_url

    client = from_url(settings.redis_url, socket_connect_timeout=CHECK_TIMEOUT_S)
    try:
        pong = await client.ping()
        info = await client.info("server")
    except Exception as exc:  # noqa: BLE001
        return CheckResult("redis", False, _one_line(exc))
    finally:
        await client.aclose()
    return CheckResult("redis", bool(pong), f"Redis {info.get('redis_version', '?')}")


async def _check_solana(client: httpx.AsyncClient, name: str, url: str) -> CheckResult:
    try:
        response = await client.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "getSlot"})
        body = response.json()
        slot = body["result"]
    except Exception as exc:  # noqa: BLE001
        return _provider_failure(name, url, exc)
    return CheckResult(name, True, f"slot {slot}")


async def _check_blockfrost(
    client: httpx.AsyncClient, name: str, url: str, project_id: str | None
) -> CheckResult:
    headers = {"project_id": project_id} if project_id else {}
    try:
        response = await client.get(f"{url}/blocks/latest", headers=headers)
    except Exception as exc:  # noqa: BLE001
        return _provider_failure(name, url, exc)
    if response.status_code != 200:
        return CheckResult(name, False, f"HTTP {response.status_code}: {response.text[:120]}")
    return CheckResult(name, True, f"tip height {response.json().get('height')}")


async def _check_twelvedata(
    client: httpx.AsyncClient, name: str, url: str, api_key: str | None
) -> CheckResult:
    params = {"apikey": api_key} if api_key else {}
    try:
        response = await client.get(f"{url}/cryptocurrency_exchanges", params=params)
        body = response.json()
    except Exception as exc:  # noqa: BLE001
        return _provider_failure(name, url, exc)
    if isinstance(body, dict) and body.get("status") == "error":
        return CheckResult(name, False, f"code {body.get('code')}: {body.get('message')}")
    return CheckResult(name, response.status_code == 200, f"HTTP {response.status_code}")


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:200]
