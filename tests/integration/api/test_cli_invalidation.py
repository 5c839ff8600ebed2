"""A write through the CLI invalidates what running APIs cache, like the same write through the API."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.api.conftest import Api, Keys, seed_wallet_history

pytestmark = pytest.mark.redis


def _walletsync(api: Api, database_url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "WALLETSYNC_DATABASE_URL": database_url,
        "WALLETSYNC_REDIS_URL": str(api.settings.redis_url),
        "WALLETSYNC_CACHE_NAMESPACE": api.settings.cache_namespace,
        "WALLETSYNC_AUTO_MIGRATE": "false",
        "WALLETSYNC_DATA_DIR": str(tmp_path),
    }
    return subprocess.run(
        [str(Path(sys.executable).parent / "walletsync"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )


async def test_a_wallet_removed_with_the_cli_is_not_served_from_the_cache(
    api: Api, keys: Keys, database_url: str, tmp_path: Path
) -> None:
    """Cached balances of a wallet removed by `walletsync wallets remove` are a 404 at once."""
    seeded = await seed_wallet_history(api.db, n_txs=2)
    url = f"/v1/wallets/{seeded.wallet_id}/balances"
    assert (await api.client.get(url, headers=keys.read)).status_code == 200  # now cached
    assert (await api.client.get(url, headers=keys.read)).status_code == 200
    removed = await asyncio.to_thread(
        _walletsync, api, database_url, tmp_path, "wallets", "remove", str(seeded.wallet_id), "--yes"
    )
    assert removed.returncode == 0, removed.stderr
    response = await api.client.get(url, headers=keys.read)
    assert response.status_code == 404, response.text
