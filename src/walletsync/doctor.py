"""`walletsync doctor`: reachability checks of the database, Redis and every provider endpoint."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx
from sqlalchemy import func, select

from walletsync.config import Settings
from walletsync.db import migrate
from walletsync.db.engine import make_engine
from walletsync.runtime import prepare_database

CHECK_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    ok: bool
    detail: str
    skipped: bool = False


def run_checks(settings: Settings) -> list[CheckResult]:
    results = [_check_database(settings)]
    results.extend(asyncio.run(_async_checks(settings)))
    return results


def _check_database(settings: Settings) -> CheckResult:
    try:
        target = prepare_database(settings, auto_migrate=False)
        status = migrate.status(target.migration_url)
        version = asyncio.run(_server_version(target.url, settings))
    except Exception as exc:  # noqa: BLE001 - doctor reports every failure as a row
        return CheckResult("database", False, _one_line(exc))
    schema = "schema up to date" if status.up_to_date else f"pending migrations: {', '.join(status.pending)}"
    return CheckResult("database", status.up_to_date, f"{target.describe(settings)}; {version}; {schema}")


async def _server_version(url: str, settings: Settings) -> str:
    engine = make_engine(url, settings, application_name="walletsync-doctor")
    try:
        async with engine.connect() as conn:
            version = await conn.scalar(select(func.version()))
    finally:
        await engine.dispose()
    return str(version).split(" on ")[0]


async def _async_checks(settings: Settings) -> list[CheckResult]:
    checks = [_check_redis(settings)]
    async with httpx.AsyncClient(timeout=CHECK_TIMEOUT_S) as client:
        for url in settings.solana_rpc_urls:
            checks.append(_check_solana(client, url))
        for url in settings.blockfrost_urls:
            checks.append(_check_blockfrost(client, url, settings.blockfrost_project_id))
        for url in settings.twelvedata_urls:
            checks.append(_check_twelvedata(client, url, settings.twelvedata_api_key))
        results = list(await asyncio.gather(*checks))
    if settings.uses_simulator:
        results.append(
            CheckResult("providers", True, "no provider URLs set: `demo` uses the bundled simulator", True)
        )
    return results


async def _check_redis(settings: Settings) -> CheckResult:
    if not settings.redis_url:
        return CheckResult("redis", True, "REDIS_URL unset: in-process cache", skipped=True)
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


async def _check_solana(client: httpx.AsyncClient, url: str) -> CheckResult:
    name = f"solana {httpx.URL(url).host}"
    try:
        response = await client.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "getSlot"})
        body = response.json()
        slot = body["result"]
    except Exception as exc:  # noqa: BLE001
        return CheckResult(name, False, _one_line(exc))
    return CheckResult(name, True, f"slot {slot}")


async def _check_blockfrost(client: httpx.AsyncClient, url: str, project_id: str | None) -> CheckResult:
    name = f"blockfrost {httpx.URL(url).host}"
    headers = {"project_id": project_id} if project_id else {}
    try:
        response = await client.get(f"{url}/blocks/latest", headers=headers)
    except Exception as exc:  # noqa: BLE001
        return CheckResult(name, False, _one_line(exc))
    if response.status_code != 200:
        return CheckResult(name, False, f"HTTP {response.status_code}: {response.text[:120]}")
    return CheckResult(name, True, f"tip height {response.json().get('height')}")


async def _check_twelvedata(client: httpx.AsyncClient, url: str, api_key: str | None) -> CheckResult:
    name = f"twelvedata {httpx.URL(url).host}"
    params = {"apikey": api_key} if api_key else {}
    try:
        response = await client.get(f"{url}/cryptocurrency_exchanges", params=params)
        body = response.json()
    except Exception as exc:  # noqa: BLE001
        return CheckResult(name, False, _one_line(exc))
    if isinstance(body, dict) and body.get("status") == "error":
        return CheckResult(name, False, f"code {body.get('code')}: {body.get('message')}")
    return CheckResult(name, response.status_code == 200, f"HTTP {response.status_code}")


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:200]
