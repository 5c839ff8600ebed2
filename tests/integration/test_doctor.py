"""`walletsync doctor`: endpoints told apart, keys missing, workers and queue, one retry before FAIL."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import insert

from walletsync.config import Settings
from walletsync.db.engine import Database
from walletsync.doctor import CheckResult, run_checks
from walletsync.jobs.tables import procrastinate_jobs, procrastinate_workers
from walletsync.providers.endpoints import display_name


class Stub:
    """A Solana RPC / Blockfrost stand-in on 127.0.0.1 that fails its first `failures` requests with 503."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.requests = 0
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, body: dict[str, object]) -> None:
                stub.requests += 1
                if stub.requests <= stub.failures:
                    self.send_response(503)
                    self.end_headers()
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self._answer({"jsonrpc": "2.0", "id": 1, "result": 4242})

            def do_GET(self) -> None:
                self._answer({"height": 77})

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stubs() -> Iterator[list[Stub]]:
    made: list[Stub] = []
    yield made
    for stub in made:
        stub.close()


def _rows(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {r.name: r for r in results}


def test_no_providers_is_said_not_ok(db: Database, settings: Settings) -> None:
    """Nothing configured: a `providers` warning that says so, never a plain ok."""
    rows = _rows(run_checks(settings))
    assert rows["database"].ok
    providers = rows["providers"]
    assert providers.warning
    assert providers.detail.startswith("no providers configured: wallets cannot sync")


def test_endpoints_on_one_host_are_told_apart_and_retried_once(
    db: Database, settings: Settings, stubs: list[Stub]
) -> None:
    """Two Solana endpoints on 127.0.0.1 get their own rows; a probe failing once is retried and
    passes (with a warning), one failing twice is FAIL after exactly two requests."""
    flaky, dead = Stub(failures=1), Stub(failures=99)
    stubs += [flaky, dead]
    cfg = settings.model_copy(update={"solana_rpc_urls": [flaky.url, dead.url]})
    rows = _rows(run_checks(cfg))
    first = rows[f"solana {display_name(flaky.url)}"]
    second = rows[f"solana {display_name(dead.url)}"]
    assert first.ok
    assert first.warning
    assert first.detail == "slot 4242 (failed once, then answered)"
    assert flaky.requests == 2
    assert not second.ok
    assert second.detail.endswith("(failed twice, 1 s apart)")
    assert dead.requests == 2
    assert "providers" not in rows


def test_provider_url_without_its_key_warns(db: Database, settings: Settings, stubs: list[Stub]) -> None:
    """BLOCKFROST_URLS without WALLETSYNC_BLOCKFROST_PROJECT_ID: the endpoint row plus a key warning."""
    blockfrost = Stub(failures=0)
    stubs.append(blockfrost)
    cfg = settings.model_copy(update={"blockfrost_urls": [blockfrost.url], "blockfrost_project_id": None})
    rows = _rows(run_checks(cfg))
    assert rows[f"blockfrost {display_name(blockfrost.url)}"].detail == "tip height 77"
    key = rows["blockfrost key"]
    assert key.warning
    assert "WALLETSYNC_BLOCKFROST_PROJECT_ID is not" in key.detail
    with_key = _rows(run_checks(cfg.model_copy(update={"blockfrost_project_id": "mainnetXYZ"})))
    assert "blockfrost key" not in with_key


async def test_workers_and_queue_age(db: Database, settings: Settings) -> None:
    """No heartbeat: a worker warning; a live heartbeat: ok. A job due an hour ago: a queue warning."""
    rows = _rows(await asyncio.to_thread(run_checks, settings))  # doctor runs its own loop
    assert rows["workers"].warning
    assert rows["workers"].detail.startswith("no live worker")
    assert rows["queue"].detail == "0 job(s) due"
    assert not rows["queue"].warning

    async with db.write() as conn:
        await conn.execute(insert(procrastinate_workers).values(last_heartbeat=datetime.now(UTC)))
        await conn.execute(
            insert(procrastinate_jobs).values(
                queue_name="sync",
                task_name="sync_wallet",
                priority=0,
                args={"wallet_id": 1},
                status="todo",
                scheduled_at=datetime.now(UTC) - timedelta(hours=1),
                attempts=0,
                abort_requested=False,
            )
        )
    rows = _rows(await asyncio.to_thread(run_checks, settings))  # doctor runs its own loop
    assert rows["workers"].ok
    assert not rows["workers"].warning
    assert rows["workers"].detail.startswith("1 live (last heartbeat ")
    queue = rows["queue"]
    assert queue.warning
    assert queue.detail.startswith("1 job(s) due, the oldest waiting 360")
    assert queue.detail.endswith("(more than 300 s: workers are behind or absent)")
