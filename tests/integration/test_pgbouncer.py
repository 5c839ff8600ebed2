"""walletsync behind a real PgBouncer in transaction mode (tests/pgbouncer.py).

PgBouncer runs with an empty `server_reset_query` and a pool of two server connections shared by
every client, so whatever a statement leaves in its session is inherited by the next client; after
each workload, `session_state()` visits every server connection and the test fails if any carries
a session SET, a prepared statement, an advisory lock, a LISTEN, a temporary table or a cursor.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import psycopg
import pytest
from sqlalchemy import update

from tests.conftest import TestEnv, create_database, drop_database
from tests.integration.api.conftest import SOLANA_ADDRESSES, seed_wallet_history
from tests.integration.indexing.conftest import simulator_settings
from tests.pgbouncer import PgBouncer, pgbouncer_or_skip, running_pgbouncer
from tests.support import run_walletsync
from walletsync.api.app import create_app
from walletsync.api.keys import create_key, key_memo
from walletsync.config import Chain, load_settings
from walletsync.db import migrate
from walletsync.db.engine import Database
from walletsync.db.models import sync_state
from walletsync.jobs.sweep import sweep
from walletsync.jobs.worker import run_worker
from walletsync.portfolio.balances import wallet_balances
from walletsync.services import open_services
from walletsync.simulator.ledger import Ledger
from walletsync.simulator.server import SimulatorServer
from walletsync.wallets.repository import add_wallet

REPEAT = 12  # every write at least 10 times per pooled connection (generic plans from the 6th)


@pytest.fixture(scope="module")
def bouncer(pg_admin_url: str) -> Iterator[PgBouncer]:
    pgbouncer_or_skip(TestEnv().ci)
    target = urlparse(pg_admin_url)
    if not target.hostname:
        # The embedded PostgreSQL listens on a socket in pytest's private temporary directory,
        # which PgBouncer (run as the postgres user) cannot reach; 127.0.0.1:5432 would be another server.
        pytest.skip("PgBouncer tests need a PostgreSQL over TCP: set WALLETSYNC_TEST_DATABASE_URL")
    with running_pgbouncer(target.hostname or "127.0.0.1", target.port or 5432, pool_size=2) as started:
        yield started


@pytest.fixture
def pooled(pg_admin_url: str, bouncer: PgBouncer) -> Iterator[tuple[str, str, str]]:
    """A migrated database of its own: (direct URL, URL through PgBouncer, database name)."""
    direct = create_database(pg_admin_url, prefix="walletsync_pgb")
    migrate.upgrade(direct)
    name = urlparse(direct).path.lstrip("/")
    yield direct, bouncer.url(name), name
    with psycopg.connect(
        bouncer.url("pgbouncer"), autocommit=True, cursor_factory=psycopg.ClientCursor
    ) as admin:
        admin.execute(f'KILL "{name}"'.encode())  # PgBouncer's server connections, before the DROP
    drop_database(pg_admin_url, direct)


def _assert_no_session_state(bouncer: PgBouncer, direct: str, name: str) -> None:
    state = bouncer.session_state(direct, name)
    assert state, "no server connection was used through PgBouncer"
    assert state == {pid: [] for pid in state}, f"session state left on pooled server connections: {state}"


def test_migrations_refuse_the_pooler_and_use_the_direct_url(
    pg_admin_url: str, bouncer: PgBouncer, tmp_path: Path
) -> None:
    """PgBouncer mode without a direct URL: one clear line and exit 2. With one, an empty database
    is migrated to head over the direct URL: PgBouncer sees only the start-up connection check."""
    direct = create_database(pg_admin_url, prefix="walletsync_pgbmig")
    name = urlparse(direct).path.lstrip("/")
    via_bouncer = bouncer.url(name)
    try:
        refused = run_walletsync(
            "migrate",
            "status",
            cwd=tmp_path,
            WALLETSYNC_DATABASE_URL=via_bouncer,
            WALLETSYNC_DATABASE_PGBOUNCER="true",
        )
        assert refused.returncode == 2, refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
        assert "WALLETSYNC_DATABASE_DIRECT_URL" in refused.stderr
        assert "required when WALLETSYNC_DATABASE_PGBOUNCER=true" in refused.stderr

        def pooled_queries() -> int:
            return sum(int(r["total_query_count"]) for r in bouncer.show("STATS") if r["database"] == name)

        done = run_walletsync(
            "migrate",
            "up",
            cwd=tmp_path,
            WALLETSYNC_DATABASE_URL=via_bouncer,
            WALLETSYNC_DATABASE_PGBOUNCER="true",
            WALLETSYNC_DATABASE_DIRECT_URL=direct,
        )
        assert done.returncode == 0, done.stderr
        assert f"at revision {migrate.head_revision()}" in done.stdout
        assert migrate.status(direct).up_to_date
        # Hundreds of migration statements ran; through PgBouncer only the start-up connection
        # check did (SQLAlchemy's first-connect queries: 9 here).
        assert pooled_queries() < 20
    finally:
        with psycopg.connect(
            bouncer.url("pgbouncer"), autocommit=True, cursor_factory=psycopg.ClientCursor
        ) as admin:
            admin.execute(f'KILL "{name}"'.encode())
        drop_database(pg_admin_url, direct)


@pytest.mark.parametrize("servers", [1, 2])
async def test_every_api_route_through_pgbouncer(
    pooled: tuple[str, str, str], pg_admin_url: str, servers: int, tmp_path: Path
) -> None:
    """Every route of the OpenAPI document answers below 500 through the pooler, each write REPEAT
    times concurrently from 4 client connections; with one server connection every write runs
    REPEAT times on it, with two they share them. No session state is left behind."""
    direct, _, name = pooled
    target = urlparse(pg_admin_url)
    with running_pgbouncer(target.hostname or "127.0.0.1", target.port or 5432, pool_size=servers) as bouncer:
        await _every_route(bouncer, direct, name, servers, tmp_path)


async def _every_route(bouncer: PgBouncer, direct: str, name: str, servers: int, tmp_path: Path) -> None:
    via_bouncer = bouncer.url(name)
    settings = load_settings(
        database_url=via_bouncer,
        database_pgbouncer=True,
        database_direct_url=direct,
        data_dir=tmp_path,
        redis_url=None,
        auto_migrate=False,
        api_rate_limit="100000/minute",
        database_pool_size=4,
    )
    db = Database.from_settings(via_bouncer, settings)
    key_memo().clear()
    try:
        async with db.write() as conn:
            admin = (await create_key(conn, name="pgbouncer-admin", scope="admin")).key
        seeded = await seed_wallet_history(db, address=SOLANA_ADDRESSES[0], n_txs=6)
        async with db.write() as conn:
            await conn.execute(update(sync_state).values(last_synced_at=datetime.now(UTC)))
        app = create_app(settings, database=db)
        headers = {"Authorization": f"Bearer {admin}"}
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://t", headers=headers
            ) as client,
        ):
            queued = await client.post(f"/v1/wallets/{seeded.wallet_id}/sync")
            assert queued.status_code == 202, queued.text
            job_id = queued.json()["job_id"]
            new_ids: list[int] = []
            document = app.openapi()
            operations = [
                (method.upper(), path, op)
                for path, item in document["paths"].items()
                for method, op in item.items()
                if "text/event-stream" not in op.get("responses", {}).get("200", {}).get("content", {})
            ]
            # Creations first (their ids feed the deletions), deletions last.
            operations.sort(key=lambda o: {"POST": 0, "GET": 1, "DELETE": 2}.get(o[0], 1))
            served: dict[str, list[int]] = {}
            for method, path, op in operations:

                async def call(
                    i: int, method: str = method, path: str = path, op: Any = op
                ) -> httpx.Response:
                    values = {
                        "wallet_id": new_ids[i] if method == "DELETE" else seeded.wallet_id,
                        "job_id": job_id,
                        "name": "default",
                        "symbol": "SOL",
                    }
                    for param in op.get("parameters", []):
                        if param["in"] == "path" and param["name"] not in values:
                            schema = document["components"]["schemas"].get(
                                param["schema"].get("$ref", "").rsplit("/", 1)[-1], {}
                            )
                            values[param["name"]] = (schema.get("enum") or ["1"])[0]
                    url = re.sub(r"\{(\w+)\}", lambda m: str(values[m.group(1)]), path)
                    body = None
                    if method == "POST" and path == "/v1/wallets":
                        body = {"chain": "solana", "address": _address(i)}
                    elif "requestBody" in op:
                        body = {}
                    return await client.request(method, url, json=body)

                answers = await asyncio.gather(*(call(i) for i in range(REPEAT)))
                served[f"{method} {path}"] = [a.status_code for a in answers]
                if method == "POST" and path == "/v1/wallets":
                    new_ids.extend(a.json()["id"] for a in answers)
            failed = {route: codes for route, codes in served.items() if max(codes) >= 500}
            assert not failed, failed
            assert served["POST /v1/wallets"] == [201] * REPEAT
            assert served["DELETE /v1/wallets/{wallet_id}"] == [204] * REPEAT
            assert set(served["GET /v1/wallets/{wallet_id}/balances"]) == {200}
        assert len(bouncer.server_pids(name)) == servers  # every shared server connection was used
        _assert_no_session_state(bouncer, direct, name)
    finally:
        await db.dispose()
        key_memo().clear()


def _address(i: int) -> str:
    # Distinct valid base58 Solana addresses (32 bytes): vary the last characters of a known one.
    base = SOLANA_ADDRESSES[0]
    return (
        base[:-2]
        + "123456789ABCDEFGHJKLMNPQRSTUVWXYZ"[i // 33 % 33]
        + "123456789ABCDEFGHJKLMNPQRSTUVWXYZ"[i % 33]
    )


@pytest.fixture(scope="module")
def ledger() -> Ledger:
    return Ledger(10, solana_wallets=6, cardano_wallets=6, txs_per_wallet=(5, 15))


@pytest.fixture(scope="module")
def simulator(ledger: Ledger) -> Iterator[SimulatorServer]:
    with SimulatorServer(ledger) as server:
        yield server


async def test_worker_and_sweep_through_pgbouncer(
    pooled: tuple[str, str, str],
    bouncer: PgBouncer,
    ledger: Ledger,
    simulator: SimulatorServer,
    tmp_path: Path,
) -> None:
    """The sweep defers a sync for each of 12 due wallets through the pooler; a worker (queue and
    LISTEN on the direct URL) syncs them all to the ledger's balances; no session state is left."""
    direct, via_bouncer, name = pooled
    settings = simulator_settings(
        via_bouncer,
        simulator,
        tmp_path / "data",
        database_pgbouncer=True,
        database_direct_url=direct,
        database_pool_size=4,
    )
    async with open_services(settings, via_bouncer) as services:
        wallets = {}
        async with services.db.write() as conn:
            for chain in (Chain.SOLANA, Chain.CARDANO):
                for address in ledger.wallets(chain):
                    wallets[(await add_wallet(conn, chain=chain, address=address)).id] = (chain, address)
            await conn.execute(
                update(sync_state).values(next_sync_at=datetime.now(UTC) - timedelta(minutes=1))
            )
        assert await sweep(services.db, now=datetime.now(UTC)) == len(wallets) == 12

        worker = asyncio.create_task(
            run_worker(services, concurrency=3, install_signal_handlers=False, wait=False)
        )
        listeners: list[int] = []
        while not worker.done():  # while it runs: where do its LISTEN sessions live?
            with psycopg.connect(direct, autocommit=True) as conn:
                listeners += [
                    pid
                    for (pid,) in conn.execute(
                        "SELECT pid FROM pg_stat_activity WHERE datname = %s AND query ILIKE 'LISTEN%%'",
                        (name,),
                    )
                ]
            await asyncio.sleep(0.2)
        await worker

        for wallet_id, (chain, address) in wallets.items():
            async with services.db.read() as conn:
                got = {b.asset_key: b.amount for b in await wallet_balances(conn, wallet_id) if b.kind == "liquid"}
            assert got == _ledger_balances(ledger, chain, address), (chain, address)
    assert listeners, "the worker never listened"
    assert not set(listeners) & bouncer.server_pids(name)  # LISTEN ran on direct sessions only
    _assert_no_session_state(bouncer, direct, name)


def _ledger_balances(ledger: Ledger, chain: Chain, address: str) -> dict[str, int]:
    if chain is Chain.SOLANA:
        expected = {"native": ledger.solana_lamports(address), **ledger.solana_token_balances(address)}
    else:
        expected = {
            ("native" if unit == "lovelace" else unit): qty
            for unit, qty in ledger.cardano_amounts(address).items()
        }
    return {asset: amount for asset, amount in expected.items() if amount != 0}


def test_the_probe_sees_session_state_left_through_the_pooler(
    pooled: tuple[str, str, str], bouncer: PgBouncer
) -> None:
    """The check the tests above rely on fails for each kind of leftover session state."""
    direct, via_bouncer, name = pooled
    with psycopg.connect(via_bouncer, autocommit=True, prepare_threshold=None) as conn:
        conn.execute("SET work_mem = '7MB'")
        conn.execute("SELECT pg_advisory_lock(4242)")
        conn.execute("PREPARE leftover AS SELECT 1")
        conn.execute("LISTEN leftover_channel")
    state = bouncer.session_state(direct, name)
    leftovers = sorted(item for items in state.values() for item in items)
    assert leftovers == [
        "LISTEN leftover_channel",
        "SET work_mem = 7168",
        "advisory lock 4242",
        "prepared statement leftover: PREPARE leftover AS SELECT 1",
    ]
