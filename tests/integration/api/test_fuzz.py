"""Bounded fuzzing of the running API, as CI runs it: schemathesis' own runner (`st run`) with its
coverage, fuzzing and stateful phases, once with an admin key, once with a read key, once with none,
against `walletsync api` serving a seeded database.

It fails on any 5xx, any response that breaks the OpenAPI document, a schema-invalid request accepted
(ST201), a schema-valid one refused (ST202), and an `Allow` header that disagrees with the document
(ST205). The few refusals the document cannot express (an address checksum, an unknown id) are
allowed per operation in `schemathesis.toml` beside this file, each with its reason.

Bounded: few examples per operation and a fixed seed; the three runs go at once and take about two
minutes on a busy two-core machine.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.integration.api.conftest import CARDANO_ADDRESS, seed_wallet_history
from tests.support import clean_env, start_walletsync
from walletsync.api.keys import create_key
from walletsync.db.engine import Database
from walletsync.jobs.api import defer_sync

pytestmark = [pytest.mark.redis, pytest.mark.slow, pytest.mark.timeout(240)]

CONFIG = Path(__file__).with_name("schemathesis.toml")
HOOKS = Path(__file__).with_name("schemathesis_hooks.py")
EXAMPLES_PER_OPERATION = 10
SEED = 20261129


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_until_serving(base: str, process: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"walletsync api exited with {process.returncode}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("walletsync api did not start")


async def _seed(db: Database) -> dict[str, str]:
    """Facts to read (a wallet with history, a grouped Cardano wallet, a waiting job) and two keys."""
    seeded = await seed_wallet_history(db, n_txs=20)
    from sqlalchemy import insert, update

    from walletsync.db.models import wallets

    async with db.write() as conn:
        await conn.execute(update(wallets).values(group_name="main", label="main"))
        cardano = (
            await conn.execute(
                insert(wallets)
                .values(chain="cardano", address=CARDANO_ADDRESS, group_name="main")
                .returning(wallets.c.id)
            )
        ).scalar_one()
        await defer_sync(conn, seeded.wallet_id)
        await defer_sync(conn, cardano)
        admin = (await create_key(conn, name="fuzz-admin", scope="admin")).key
        read = (await create_key(conn, name="fuzz-read", scope="read")).key
    return {"admin": admin, "read": read}


def _start_schemathesis(base: str, key: str | None, name: str, workdir: Path) -> subprocess.Popen[str]:
    """`st run` in the background, its output in `workdir/st-<name>.txt`."""
    st = shutil.which("st", path=str(Path(sys.executable).parent))
    assert st is not None, "schemathesis is not installed in this environment"
    auth = ["-H", f"Authorization: Bearer {key}"] if key else []
    run_dir = workdir / f"st-{name}"
    run_dir.mkdir()
    return subprocess.Popen(
        [
            st,
            "--no-color",
            "--config-file",
            str(CONFIG),
            "run",
            f"{base}/openapi.json",
            "--phases",
            "coverage,fuzzing,stateful",
            "--checks",
            "all",
            "--max-examples",
            str(EXAMPLES_PER_OPERATION),
            "--seed",
            str(SEED),
            "--workers",
            "1",
            "--no-shrink",
            # An endless response by design (tests/integration/events/test_streams.py drives it).
            "--exclude-path",
            "/v1/events/stream",
            *auth,
        ],
        env=clean_env(SCHEMATHESIS_HOOKS=str(HOOKS)),
        cwd=run_dir,  # its own files (`.schemathesis/`) stay out of the checkout
        stdout=(workdir / f"st-{name}.txt").open("w"),
        stderr=subprocess.STDOUT,
        text=True,
    )


async def test_schemathesis_finds_no_server_error_or_schema_violation(
    db: Database, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    """admin, read and no key: 0 server errors, 0 schema violations, 0 undocumented refusals."""
    keys = await _seed(db)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = clean_env(
        WALLETSYNC_DATABASE_URL=database_url,
        WALLETSYNC_REDIS_URL=redis_url,
        WALLETSYNC_CACHE_NAMESPACE=f"wsfuzz-{uuid.uuid4().hex[:8]}",
        WALLETSYNC_API_RATE_LIMIT="1000000/minute",
        WALLETSYNC_API_AUTH_RATE_LIMIT="1000000/minute",  # every run comes from 127.0.0.1
        WALLETSYNC_AUTO_MIGRATE="false",
        WALLETSYNC_DATA_DIR=str(tmp_path / "data"),
        WALLETSYNC_LOG_LEVEL="WARNING",
    )
    api = start_walletsync(
        "api",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "api.log").open("wb"),
    )
    outcomes: dict[str, str] = {}
    runs: dict[str, subprocess.Popen[str]] = {}
    try:
        _wait_until_serving(base, api)
        # The three runs go at once: each mostly waits for the API, which serves them concurrently.
        for name, key in (("admin", keys["admin"]), ("read", keys["read"]), ("no-key", None)):
            runs[name] = _start_schemathesis(base, key, name, tmp_path)
        for name, run in runs.items():
            code = run.wait(timeout=200)
            if code != 0:
                outcomes[name] = f"exit {code}\n{(tmp_path / f'st-{name}.txt').read_text()[-6000:]}"
    finally:
        for run in runs.values():
            if run.poll() is None:
                run.kill()
        api.terminate()
        api.wait(timeout=30)
    server_log = (tmp_path / "api.log").read_text(errors="replace")
    assert not outcomes, "\n\n".join(f"== {name}\n{text}" for name, text in outcomes.items())
    assert "Traceback" not in server_log, server_log[-4000:]
