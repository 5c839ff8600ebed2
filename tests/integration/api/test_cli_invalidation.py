"""A write through the CLI invalidates what running APIs cache, like the same write through the API."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest

from tests.integration.api.conftest import Api, Keys, seed_wallet_history
from tests.support import run_against

pytestmark = pytest.mark.redis


def _walletsync(api: Api, database_url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI on the API's database and Redis namespace, so its invalidation reaches the API's cache."""
    return run_against(
        database_url,
        tmp_path,
        *args,
        WALLETSYNC_REDIS_URL=str(api.settings.redis_url),
        WALLETSYNC_CACHE_NAMESPACE=api.settings.cache_namespace,
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
