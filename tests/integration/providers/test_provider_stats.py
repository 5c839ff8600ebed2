"""Provider statistics shared through `provider_stats`: two processes' counts add up on the operations
page, a flush reuses one pooled connection, a database outage loses nothing and never reaches a
provider call, and retention deletes old minutes. Expected numbers are written by hand."""

from __future__ import annotations

import asyncio
import contextlib
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, insert, select
from structlog.testing import capture_logs

from tests.integration.indexing.conftest import ledger, simulator, simulator_settings
from tests.integration.web.test_web_sessions import Client, _key, _sign_in, client  # noqa: F401
from tests.unit.providers.client_fakes import BASE
from walletsync.config import Settings
from walletsync.db.engine import Database
from walletsync.db.models import provider_stats
from walletsync.db.provider_stats import StatsFlusher, prune_provider_stats
from walletsync.providers.endpoints import display_name
from walletsync.providers.errors import ProviderError
from walletsync.providers.http import ResilientClient
from walletsync.providers.stats import ProviderStats
from walletsync.services import open_services
from walletsync.simulator.server import SimulatorServer

__all__ = ["ledger", "simulator"]  # fixtures shared with the indexing tests

URL = "https://rpc.example.com/v2/SECRETKEY123456"  # a key in the path, as Helius/Alchemy URLs have
NAME = display_name(URL)


class FixedWaits:
    """A rate limiter that says each call waited the next of `waits` seconds (without waiting)."""

    safe_cost = 1_000

    def __init__(self, waits: list[float]) -> None:
        self.waits = list(waits)

    async def acquire(self, cost: int = 1) -> float:
        return self.waits.pop(0) if self.waits else 0.0


def _answers(statuses: list[int]) -> httpx.MockTransport:
    remaining = list(statuses)

    def handle(request: httpx.Request) -> httpx.Response:
        status = remaining.pop(0)
        return httpx.Response(status, json={"ok": status == 200})

    return httpx.MockTransport(handle)


async def _calls(statuses: list[int], waits: list[float], stats: ProviderStats) -> None:
    """One call per status (one attempt each: max_attempts=1, no Retry-After), through a client of its own."""
    config = replace(BASE, urls=(URL,), max_attempts=1)
    async with ResilientClient(
        config, transport=_answers(statuses), rate_limiter=FixedWaits(waits), stats=stats
    ) as provider:
        for _ in statuses:
            with contextlib.suppress(ProviderError):
                await provider.get_json("/getHealth")


def _cells(html: str, window: str) -> dict[str, str]:
    body = re.search(
        rf'<tbody class="endpoint" data-provider="solana" data-endpoint="{re.escape(NAME)}">(.*?)</tbody>',
        html,
        re.S,
    )
    assert body is not None, html
    row = re.search(rf'<tr data-window="{window}">(.*?)</tr>', body.group(1), re.S)
    assert row is not None
    return {m[0]: m[1].strip() for m in re.findall(r'data-field="([a-z0-9-]+)"[^>]*>([^<]*)<', row.group(1))}


async def test_two_processes_counts_add_up_on_the_operations_page(
    db: Database,
    settings: Settings,
    client: Client,  # noqa: F811
) -> None:
    # Process A: 200, 500, 429 after waits of 0, 50 ms, 2 s. Process B: 200, 200 after 5 ms, 20 s.
    first, second = ProviderStats(), ProviderStats()
    await _calls([200, 500, 429], [0.0, 0.05, 2.0], first)
    await _calls([200, 200], [0.005, 20.0], second)
    for stats in (first, second):
        assert await StatsFlusher(db, stats, interval_s=10).flush()
    async with db.read() as conn:
        rows = (await conn.execute(select(provider_stats))).mappings().all()
    assert {row["endpoint"] for row in rows} == {NAME}  # never the URL: its key must not leak
    assert sum(row["requests"] for row in rows) == 5

    http = await client()
    _, admin = await _key(db, "admin")
    await _sign_in(http, admin)
    page = await http.get("/web/operations")
    assert page.status_code == 200
    assert "SECRETKEY123456" not in page.text
    for window in ("5 min", "1 h"):
        cells = _cells(page.text, window)
        assert cells["requests"] == "5"
        assert cells["error-rate"] == "20.0 %"  # one 500 of five; the 429 is counted apart
        assert cells["rate-limited"] == "1"
        assert cells["wait-total"] == "22.1 s"  # 0 + 50 + 2000 + 5 + 20000 ms
        # Waits by bucket: <=10 ms: 2, <=100 ms: 1, <=10 s: 1, longer: 1 -> p50 in <=100 ms, p95 the longest.
        assert cells["wait-p50"] == "≤ 100 ms"
        assert cells["wait-p95"] == "≤ 20.0 s"
        assert cells["wait-max"] == "20.0 s"


async def test_flushes_add_to_the_minute_on_one_pooled_connection(
    database_url: str, settings: Settings
) -> None:
    one = Database.from_settings(
        database_url, settings.model_copy(update={"database_pool_size": 1, "database_max_overflow": 0})
    )
    stats = ProviderStats(now=lambda: datetime(2026, 11, 29, 12, 0, 30, tzinfo=UTC).timestamp())
    flusher = StatsFlusher(one, stats, interval_s=10)
    try:
        async with one.write() as conn:
            await conn.execute(provider_stats.delete())
        for i in range(12):
            stats.attempt("solana", NAME, "ok" if i % 3 else "server_error", 0.001 * i)
            assert await flusher.flush()
        assert flusher.flushes == 12
        async with one.read() as conn:
            row = (await conn.execute(select(provider_stats))).mappings().one()
        assert (row["requests"], row["errors"], row["rate_limited"]) == (12, 4, 0)
        assert row["throttle_wait_ms"] == sum(range(12))
        assert row["throttle_wait_max_ms"] == 11
        assert row["waits"] == [11, 1, 0, 0, 0]  # 0..10 ms, then 11 ms
    finally:
        await one.dispose()


async def test_a_database_outage_keeps_counting_logs_once_and_loses_nothing(
    db: Database, settings: Settings
) -> None:
    down = Database.from_settings(
        "postgresql://postgres@127.0.0.1:1/none", settings.model_copy(update={"database_pool_timeout_s": 1})
    )
    stats = ProviderStats()
    flusher = StatsFlusher(down, stats, interval_s=10)
    try:
        with capture_logs() as logs:
            for _ in range(3):
                await _calls([200, 500], [0.0, 0.0], stats)  # provider calls go on while flushes fail
                assert not await flusher.flush()
        assert [entry["event"] for entry in logs].count("provider.stats.flush_failed") == 1
        flusher.db = db  # the database is back
        with capture_logs() as logs:
            assert await flusher.flush()
        assert "provider.stats.flush_recovered" in [entry["event"] for entry in logs]
    finally:
        await down.dispose()
    async with db.read() as conn:
        total = await conn.scalar(select(func.sum(provider_stats.c.requests)))
        errors = await conn.scalar(select(func.sum(provider_stats.c.errors)))
    assert (total, errors) == (6, 3)


async def test_the_flusher_writes_periodically_and_at_exit(db: Database) -> None:
    stats = ProviderStats()
    async with StatsFlusher(db, stats, interval_s=0.05).running() as flusher:
        stats.attempt("solana", NAME, "ok", 0.0)
        for _ in range(500):  # the loop's first flush, within 5 s
            if flusher.flushes:
                break
            await asyncio.sleep(0.01)
        assert flusher.flushes == 1
        stats.attempt("solana", NAME, "rate_limited", 0.0)  # left for the flush at exit
    async with db.read() as conn:
        total = await conn.scalar(select(func.sum(provider_stats.c.requests)))
        limited = await conn.scalar(select(func.sum(provider_stats.c.rate_limited)))
    assert (total, limited) == (2, 1)


async def test_retention_deletes_minutes_older_than_the_setting(db: Database) -> None:
    now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    ages = [
        timedelta(minutes=1),
        timedelta(hours=47, minutes=59),
        timedelta(hours=48, minutes=1),
        timedelta(days=9),
    ]
    async with db.write() as conn:
        for age in ages:
            await conn.execute(
                insert(provider_stats).values(
                    provider="solana", endpoint=NAME, minute=now - age, requests=1, waits=[1, 0, 0, 0, 0]
                )
            )
    assert await prune_provider_stats(db, now=now, retention=timedelta(hours=48)) == 2
    async with db.read() as conn:
        kept = sorted((now - m) for m in (await conn.execute(select(provider_stats.c.minute))).scalars())
    assert kept == ages[:2]


@pytest.mark.parametrize("value", ["172800", "P2D"])
def test_the_retention_setting_takes_seconds_or_a_duration(settings: Settings, value: str) -> None:
    from walletsync.config import load_settings

    assert load_settings(
        database_url=settings.database_url, provider_stats_retention=value
    ).provider_stats_retention == timedelta(days=2)


async def test_every_process_counts_its_provider_calls_and_writes_them_at_exit(
    db: Database, database_url: str, simulator: SimulatorServer, tmp_path: Path
) -> None:
    """`open_services` (what `worker`, `serve`, `sync` and `demo` run in) wires its clients to a
    flusher: calls made inside are in `provider_stats` once the block ends, under the display name."""
    settings = simulator_settings(database_url, simulator, tmp_path / "data", provider_stats_flush_s=3600)
    async with open_services(settings, database_url) as services:
        solana = services.clients.get("solana")
        for _ in range(3):
            await solana.post_json("", body={"jsonrpc": "2.0", "id": 1, "method": "getSlot"})
    async with db.read() as conn:
        rows = (await conn.execute(select(provider_stats))).mappings().all()
    assert [(r["provider"], r["endpoint"], r["requests"], r["errors"]) for r in rows] == [
        ("solana", display_name(simulator.url("solana")), 3, 0)
    ]
