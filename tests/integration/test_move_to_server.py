"""The documented move from the embedded PostgreSQL 18 to a PostgreSQL server 15 or 16.

The embedded database is filled the way production fills it (wallets synced from the simulator,
prices, queued jobs, an API key), backed up with `walletsync backup`'s code, and restored into a
throwaway server of each older version (tests/pgcluster.py): Debian's PostgreSQL 15 and the
wheel's own PostgreSQL 16. Every table's row count and every wallet's balances must be identical.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.test_backup import _balances, _row_counts
from tests.pgcluster import PgCluster
from tests.support import run_walletsync
from walletsync.api.keys import create_key
from walletsync.config import Chain, Settings, load_settings
from walletsync.db import migrate
from walletsync.db.backup import backup
from walletsync.db.embedded import start_embedded, stop_embedded
from walletsync.db.pgtools import bundled_bin_dirs
from walletsync.db.restore import restore
from walletsync.indexing.sync import sync_wallet
from walletsync.jobs.api import defer_sync
from walletsync.services import open_services
from walletsync.simulator.ledger import Ledger
from walletsync.simulator.server import SimulatorServer
from walletsync.wallets.repository import add_wallet

pytestmark = pytest.mark.slow


def _settings(url: str, data_dir: Path, server: SimulatorServer | None = None) -> Settings:
    providers: dict[str, object] = {}
    if server is not None:
        providers = {
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
    return load_settings(database_url=url, data_dir=data_dir, redis_url=None, auto_migrate=False, **providers)


@pytest.fixture(scope="module")
def embedded_backup() -> Iterator[tuple[Path, dict[str, int], dict[str, object]]]:
    """A filled embedded PostgreSQL 18 database, backed up: (file, row counts, balances)."""
    import asyncio
    import shutil
    import tempfile

    # Not tmp_path_factory: with many pytest sessions sharing /tmp/pytest-of-root, the embedded
    # server failed to start under it (pg_ctl's log file vanished; cause not pinned down), while a
    # temporary directory of its own works, as in tests/pgcluster.py.
    root = Path(tempfile.mkdtemp(prefix="walletsync-embedded18-"))
    embedded = start_embedded(root / "data")
    try:
        url = embedded.url()
        migrate.upgrade(url)
        ledger = Ledger(18, solana_wallets=2, cardano_wallets=2)
        with SimulatorServer(ledger) as server:
            settings = _settings(url, root, server)

            async def fill() -> None:
                async with open_services(settings, url, application_name="test-move") as services:
                    for chain in (Chain.SOLANA, Chain.CARDANO):
                        for address in ledger.wallets(chain):
                            async with services.db.write() as conn:
                                wallet = await add_wallet(conn, chain=chain, address=address, group="team")
                            await sync_wallet(
                                services.db, wallet.id, adapters=services.adapters, settings=settings
                            )
                            async with services.db.write() as conn:
                                await defer_sync(conn, wallet.id)
                    await services.sync_prices()
                    async with services.db.write() as conn:
                        await create_key(conn, name="moved", scope="read")

            asyncio.run(fill())
        with_version = backup(url, root / "embedded18.dump")
        assert with_version.server_major == 18
        counts = _row_counts(url)
        balances = asyncio.run(_balances(url, _settings(url, root)))
        yield with_version.path, counts, balances
    finally:
        stop_embedded(root / "data")
        shutil.rmtree(root, ignore_errors=True)


def _wheel_bin(major: int) -> Path:
    for directory in bundled_bin_dirs():
        if (directory / "postgres").exists() and f"PostgreSQL) {major}." in _version(directory / "postgres"):
            return directory
    pytest.fail(f"the embedded wheel ships no PostgreSQL {major} server")


def _version(binary: Path) -> str:
    import subprocess

    return subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=False).stdout


@pytest.mark.parametrize("target", ["debian-15", "wheel-16"])
async def test_embedded_18_moves_to_an_older_server(
    target: str,
    embedded_backup: tuple[Path, dict[str, int], dict[str, object]],
    pg_cluster_factory: Callable[..., PgCluster],
    tmp_path: Path,
) -> None:
    """Restore of the PostgreSQL 18 backup into 15 / 16: same rows in every table, same balances."""
    path, counts, balances = embedded_backup
    cluster = (
        pg_cluster_factory(version=15)
        if target == "debian-15"
        else pg_cluster_factory(bin_dir=_wheel_bin(16))
    )
    expected_major = 15 if target == "debian-15" else 16
    assert cluster.primary.execute("SHOW server_version_num")[0][0].startswith(str(expected_major))
    url = cluster.create_database("walletsync")
    settings = _settings(url, tmp_path)

    result = restore(settings, url, path)

    assert result.tool.major == 18  # only pg_restore 18 reads this archive
    assert _row_counts(url) == counts
    assert await _balances(url, settings) == balances
    assert counts["wallets"] == 4
    assert counts["balance_deltas"] > 0


def test_cli_restore_into_postgresql_15(
    embedded_backup: tuple[Path, dict[str, int], dict[str, object]],
    pg_cluster_factory: Callable[..., PgCluster],
    tmp_path: Path,
) -> None:
    """`walletsync restore FILE` with WALLETSYNC_DATABASE_URL at a PostgreSQL 15 server: exit 0, all rows."""
    path, counts, _ = embedded_backup
    cluster = pg_cluster_factory(version=15)
    url = cluster.create_database("walletsync")
    done = run_walletsync("restore", str(path), cwd=tmp_path, WALLETSYNC_DATABASE_URL=url)
    assert done.returncode == 0, done.stderr
    assert _row_counts(url) == counts
