"""`walletsync backup` / `restore` with the real pg_dump and pg_restore on a real PostgreSQL.

The source database is filled the way production fills it: wallets synced from the simulator over
HTTP, prices ingested, jobs queued, an API key. A restore must reproduce every table's rows and the
computed balances exactly.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import create_engine, func, inspect, pool, select, table

from tests.conftest import create_database, drop_database
from tests.support import run_walletsync
from walletsync.api.keys import create_key
from walletsync.config import Chain, Settings
from walletsync.db import migrate
from walletsync.db.backup import backup
from walletsync.db.backup_archive import BackupInputError, inspect_archive
from walletsync.db.backup_target import walletsync_connections
from walletsync.db.engine import Database, psycopg_url
from walletsync.db.models import wallets
from walletsync.db.restore import DatabaseInUseError, restore
from walletsync.indexing.sync import sync_wallet
from walletsync.jobs.api import defer_sync
from walletsync.portfolio.balances import wallet_balances
from walletsync.services import open_services
from walletsync.simulator.ledger import Ledger
from walletsync.simulator.server import SimulatorServer
from walletsync.wallets.repository import add_wallet

pytestmark = pytest.mark.slow


def _row_counts(url: str) -> dict[str, int]:
    """Rows in every table of the public schema (walletsync's and Procrastinate's)."""
    engine = create_engine(psycopg_url(url), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            names = inspect(conn).get_table_names()
            return {
                name: int(conn.scalar(select(func.count()).select_from(table(name))) or 0) for name in names
            }
    finally:
        engine.dispose()


async def _balances(url: str, settings: Settings) -> dict[str, list[tuple[str, int]]]:
    """Each wallet's computed balances, keyed by chain:address (ids may differ between databases)."""
    db = Database.from_settings(url, settings, application_name="test-backup")
    try:
        async with db.read() as conn:
            rows = (await conn.execute(select(wallets.c.id, wallets.c.chain, wallets.c.address))).all()
            return {
                f"{row.chain}:{row.address}": [
                    (b.asset_key, b.amount) for b in await wallet_balances(conn, row.id)
                ]
                for row in rows
            }
    finally:
        await db.dispose()


@pytest.fixture
async def filled(db: Database, settings: Settings) -> str:
    """The test database with synced wallets, balance deltas, candles, queued jobs and an API key."""
    ledger = Ledger(5, solana_wallets=2, cardano_wallets=2)
    with SimulatorServer(ledger) as server:
        cfg = settings.model_copy(
            update={
                "solana_rpc_urls": [server.url("solana")],
                "blockfrost_urls": [server.url("blockfrost")],
                "twelvedata_urls": [server.url("twelvedata")],
                "solana_rate": 10_000.0,
                "solana_burst": 10_000,
                "blockfrost_rate": 10_000.0,
                "blockfrost_burst": 10_000,
                "twelvedata_rate_per_min": 6_000.0,
                "price_history_days": 3,
            }
        )
        async with open_services(cfg, db.url, application_name="test-backup") as services:
            for chain in (Chain.SOLANA, Chain.CARDANO):
                for address in ledger.wallets(chain):
                    async with services.db.write() as conn:
                        wallet = await add_wallet(conn, chain=chain, address=address, group="team")
                    await sync_wallet(services.db, wallet.id, adapters=services.adapters, settings=cfg)
                    async with services.db.write() as conn:
                        await defer_sync(conn, wallet.id)
            await services.sync_prices()
        async with db.write() as conn:
            await create_key(conn, name="backup-test", scope="read")
    await db.dispose()  # restore refuses while walletsync connections are open
    return db.url


async def test_backup_restores_into_an_empty_database(
    filled: str, empty_database_url: str, settings: Settings, tmp_path: Path
) -> None:
    """Every table's row count and every wallet's balances come back identical in a fresh database."""
    counts = _row_counts(filled)
    assert counts["transactions"] > 0
    assert counts["balance_deltas"] > 0
    assert counts["candles"] > 0
    assert counts["procrastinate_jobs"] == 4
    balances = await _balances(filled, settings)
    assert len(balances) == 4
    assert all(balances.values())

    result = await asyncio.to_thread(backup, filled, tmp_path / "walletsync.dump")
    assert result.path.stat().st_size == result.size_bytes > 0
    assert result.revision == migrate.head_revision()
    assert result.tool.major == result.server_major  # the matching client was found
    assert sorted(p.name for p in await asyncio.to_thread(lambda: list(tmp_path.iterdir()))) == [
        "walletsync.dump"
    ]

    restored = await asyncio.to_thread(restore, settings, empty_database_url, result.path)
    assert restored.revision == migrate.head_revision()
    assert not restored.cleared_first
    assert _row_counts(empty_database_url) == counts
    assert await _balances(empty_database_url, settings) == balances

    # Sequences came back too: a new wallet gets a fresh id instead of colliding.
    db = Database.from_settings(empty_database_url, settings, application_name="test-backup")
    try:
        async with db.write() as conn:
            highest = await conn.scalar(select(func.max(wallets.c.id)))
            extra = await add_wallet(conn, chain=Chain.SOLANA, address="11111111111111111111111111111111")
        assert highest is not None
        assert extra.id > highest
    finally:
        await db.dispose()
    assert _row_counts(empty_database_url)["wallets"] == counts["wallets"] + 1


async def test_restore_over_a_used_database_replaces_its_content(
    filled: str, empty_database_url: str, settings: Settings, tmp_path: Path
) -> None:
    """Wallets that only the target had are gone; the backup's are there, with the same balances."""
    dump = (await asyncio.to_thread(backup, filled, tmp_path / "b.dump")).path
    migrate.upgrade(empty_database_url)
    db = Database.from_settings(empty_database_url, settings, application_name="test-backup")
    try:
        async with db.write() as conn:
            await add_wallet(conn, chain=Chain.SOLANA, address="So11111111111111111111111111111111111111112")
    finally:
        await db.dispose()

    restored = await asyncio.to_thread(restore, settings, empty_database_url, dump)
    assert not restored.cleared_first  # same revision: one pg_restore --clean transaction
    assert _row_counts(empty_database_url) == _row_counts(filled)
    assert await _balances(empty_database_url, settings) == await _balances(filled, settings)


@pytest.fixture
def second_database_url(pg_admin_url: str) -> Iterator[str]:
    """Another fresh, unmigrated database for one test."""
    url = create_database(pg_admin_url, prefix="walletsync_restore")
    yield url
    drop_database(pg_admin_url, url)


async def test_older_backup_is_migrated_to_head_over_a_newer_schema(
    empty_database_url: str, second_database_url: str, settings: Settings, tmp_path: Path
) -> None:
    """A backup at an older revision restored over a database at head is cleared, restored, then migrated."""
    database_url = second_database_url
    migrate.upgrade(database_url)
    revisions = migrate.revisions()
    migrate.upgrade(empty_database_url, revisions[1])
    dump = (await asyncio.to_thread(backup, empty_database_url, tmp_path / "old.dump")).path
    assert inspect_archive(dump).revision == revisions[1]

    target_db = Database.from_settings(database_url, settings, application_name="test-backup")
    try:
        async with target_db.write() as conn:
            await add_wallet(conn, chain=Chain.SOLANA, address="So11111111111111111111111111111111111111112")
    finally:
        await target_db.dispose()
    restored = await asyncio.to_thread(restore, settings, database_url, dump)
    assert restored.cleared_first
    assert restored.backup_revision == revisions[1]
    assert restored.revision == migrate.head_revision()
    assert _row_counts(database_url)["wallets"] == 0
    migrate.check(database_url)  # the schema equals the models again


async def test_restore_refuses_while_walletsync_is_connected(
    filled: str, empty_database_url: str, settings: Settings, tmp_path: Path
) -> None:
    """An open API/worker connection stops the restore; --force goes ahead anyway."""
    dump = (await asyncio.to_thread(backup, filled, tmp_path / "b.dump")).path
    migrate.upgrade(empty_database_url)
    with psycopg.connect(empty_database_url, application_name="walletsync-api"):
        engine = create_engine(psycopg_url(empty_database_url), poolclass=pool.NullPool)
        with engine.connect() as conn:
            assert walletsync_connections(conn) == {"walletsync-api": 1}
        engine.dispose()
        with pytest.raises(DatabaseInUseError, match=r"walletsync-api ×1"):
            await asyncio.to_thread(restore, settings, empty_database_url, dump)
        assert _row_counts(empty_database_url)["wallets"] == 0
        forced = await asyncio.to_thread(restore, settings, empty_database_url, dump, force=True)
    assert forced.forced_past == {"walletsync-api": 1}
    assert _row_counts(empty_database_url)["wallets"] == 4


def test_archive_without_walletsync_schema_is_refused(
    empty_database_url: str, settings: Settings, tmp_path: Path
) -> None:
    """A valid pg_dump of some other database is not taken for a walletsync backup."""
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE unrelated (v int)")
    dump = backup(empty_database_url, tmp_path / "other.dump").path
    assert inspect_archive(dump).revision is None
    with pytest.raises(BackupInputError, match="not a walletsync backup"):
        restore(settings, empty_database_url, dump)


def _cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_walletsync(*args, cwd=tmp_path, WALLETSYNC_DATA_DIR=str(tmp_path / "data"), **env)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "no such file"),
        (b"garbage, not a backup\n", "is not a pg_dump custom-format archive"),
        (b"--\n-- PostgreSQL database dump\n--\nSET statement_timeout = 0;\n", "custom-format"),
        (b"PGDMP\x01\x0e\x00\x04\x08", "is not a readable archive"),
    ],
    ids=["missing", "garbage", "plain-sql", "truncated"],
)
def test_cli_restore_of_a_bad_file_exits_2_with_one_line(
    tmp_path: Path, database_url: str, content: bytes | None, expected: str
) -> None:
    """Bad input is one readable line on stderr and exit code 2, before any database work."""
    path = tmp_path / "input.dump"
    if content is not None:
        path.write_bytes(content)
    result = _cli(tmp_path, "restore", str(path), DATABASE_URL=database_url)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert expected in lines[0]
    assert "Traceback" not in result.stderr


def test_cli_backup_and_restore_round_trip(
    tmp_path: Path, empty_database_url: str, database_url: str
) -> None:
    """Through the command: back up a database with a wallet, restore it into another, see the wallet."""
    migrate.upgrade(empty_database_url)
    added = _cli(
        tmp_path,
        "wallets",
        "add",
        "So11111111111111111111111111111111111111112",
        "--chain",
        "solana",
        "--no-sync",
        DATABASE_URL=empty_database_url,
    )
    assert added.returncode == 0, added.stderr
    dump = tmp_path / "cli.dump"
    backed_up = _cli(tmp_path, "backup", str(dump), DATABASE_URL=empty_database_url)
    assert backed_up.returncode == 0, backed_up.stderr
    assert f"to {dump}" in backed_up.stdout.replace("\n", "")

    restored = _cli(tmp_path, "restore", str(dump), DATABASE_URL=database_url)
    assert restored.returncode == 0, restored.stderr
    assert "now at revision" in restored.stdout
    assert _row_counts(database_url)["wallets"] == 1


def test_cli_password_never_reaches_output(tmp_path: Path, database_url: str) -> None:
    """A failed connection is one line on stderr that does not contain the URL's password."""
    secret = "s3cr3t-pa55word"
    url = database_url.replace("postgresql://postgres@", f"postgresql://nobody:{secret}@")
    result = _cli(tmp_path, "backup", str(tmp_path / "x.dump"), DATABASE_URL=url)
    assert result.returncode == 2, result.stderr  # the start-up check: an unreachable database is exit 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "cannot connect" in result.stderr
    assert secret not in result.stdout + result.stderr
    assert not (tmp_path / "x.dump").exists()


def test_embedded_database_round_trip(tmp_path: Path, settings: Settings) -> None:
    """The embedded server (unix socket, run as its own user under root) is dumped and restored."""
    from walletsync.db.embedded import start_embedded, stop_embedded

    embedded = start_embedded(tmp_path / "data")
    try:
        url = embedded.url()
        migrate.upgrade(url)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO wallets (chain, address) VALUES ('solana', 'So11111111111111111111111111111111111111112')"
            )
        result = backup(url, tmp_path / "embedded.dump")
        assert result.tool.major == result.server_major
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DELETE FROM wallets")
        restore(settings, url, result.path)
        counts: dict[str, Any] = _row_counts(url)
        assert counts["wallets"] == 1
    finally:
        stop_embedded(tmp_path / "data")
