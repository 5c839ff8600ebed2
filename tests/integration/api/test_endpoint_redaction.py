"""Provider keys in endpoint URLs (path or query) reach no output: logs, metrics, the database,
/readyz details, `walletsync doctor`, error messages. Endpoints are shown as `host#hash`."""

from __future__ import annotations

import asyncio
import io
import json
import re
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select

from tests.integration.api.conftest import Api
from tests.unit.providers.client_fakes import make_config
from walletsync.api.keys import create_key
from walletsync.config import Settings
from walletsync.db.engine import Database
from walletsync.db.models import provider_endpoints
from walletsync.db.provider_endpoints import endpoint_state_saver
from walletsync.doctor import run_checks
from walletsync.logs import configure_logging
from walletsync.providers.errors import ProviderUnavailableError
from walletsync.providers.http import ResilientClient

pytestmark = pytest.mark.redis

PATH_KEY = "SECRETKEY123"
QUERY_KEY = "SECRETQUERY456"


@pytest.fixture
def upstream() -> Iterator[str]:
    """A provider on 127.0.0.1 that fails every request with 503, quoting the path it was asked for."""

    class Handler(BaseHTTPRequestHandler):
        def _fail(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            data = json.dumps({"error": f"overloaded while serving {self.path}"}).encode()
            self.send_response(503)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _fail

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _assert_no_secret(text: str, where: str) -> None:
    for secret in (PATH_KEY, QUERY_KEY):
        assert secret not in text, f"{secret} leaked into {where}"


async def test_endpoint_keys_reach_no_output(
    upstream: str, db: Database, make_api: Callable[[Settings], Any], api_settings: Settings
) -> None:
    by_path = f"{upstream}/v2/{PATH_KEY}"
    by_query = f"{upstream}/v1?api-key={QUERY_KEY}"
    config = make_config(urls=(by_path, by_query), max_attempts=2, breaker_failure_threshold=1)

    stream = io.StringIO()
    configure_logging("INFO", "json", stream=stream)
    try:
        async with ResilientClient(config, on_change=endpoint_state_saver(db)) as client:
            with pytest.raises(ProviderUnavailableError) as failed:
                await client.get_json("getSlot", params={"commitment": "finalized"})
    finally:
        configure_logging()
    lines = stream.getvalue()
    _assert_no_secret(lines, "the log")
    requests = [json.loads(line) for line in lines.splitlines() if '"provider.request"' in line]
    assert len(requests) == 2  # one attempt on each endpoint (the retry goes elsewhere)
    names = {r["endpoint"] for r in requests}
    assert len(names) == 2  # two endpoints on one host are told apart ...
    assert all(re.fullmatch(r"127\.0\.0\.1:\d+#[0-9a-f]{6}", name) for name in names)  # ... by a hash
    error = failed.value
    _assert_no_secret(f"{error} {error.endpoint} {error!r}", "the error message")
    assert error.endpoint in names

    async with db.primary.connect() as conn:
        rows = (await conn.execute(select(provider_endpoints))).mappings().all()
    assert {row["url"] for row in rows} == names
    assert {row["breaker_state"] for row in rows} == {"open"}  # the write-through still works
    _assert_no_secret(repr([dict(row) for row in rows]), "provider_endpoints")

    api: Api = await make_api(
        api_settings.model_copy(update={"solana_rpc_urls": [by_path, by_query], "metrics_public": True})
    )
    metrics = (await api.client.get("/metrics")).text
    assert all(f'endpoint="{name}"' in metrics for name in names)
    _assert_no_secret(metrics, "/metrics")
    async with api.db.write() as conn:
        admin = await create_key(conn, name="redaction", scope="admin")
    readyz = (await api.client.get("/readyz", headers={"Authorization": f"Bearer {admin.key}"})).text
    assert "solana: 2 open" in readyz
    _assert_no_secret(readyz, "/readyz details")

    doctor = await asyncio.to_thread(
        run_checks, api_settings.model_copy(update={"solana_rpc_urls": [by_path, by_query]})
    )
    solana_rows = [row for row in doctor if row.name.startswith("solana ")]
    assert {row.name.removeprefix("solana ") for row in solana_rows} == names
    assert not any(row.ok for row in solana_rows)
    _assert_no_secret(repr(doctor), "walletsync doctor")
