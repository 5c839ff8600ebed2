"""Abuse resistance of key authentication: malformed keys cost no query, unknown keys one query a
minute, unverified requests are throttled per client address (X-Forwarded-For only from a trusted
proxy), and a revocation from another process reaches a running API at once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from tests.integration.api.conftest import Api, Keys
from tests.support import run_against
from walletsync.api.keys import key_memo
from walletsync.config import Settings
from walletsync.db.engine import Database

pytestmark = pytest.mark.redis

UNKNOWN_KEY = "wsk_" + "A" * 43  # well formed, never issued


class KeyQueries:
    """Counts `api_keys` look-ups the database actually runs (an engine event, not a mock)."""

    def __init__(self, db: Database) -> None:
        self.engine = db.primary.sync_engine
        self.count = 0

    def _on_execute(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "FROM api_keys" in statement:
            self.count += 1


@pytest.fixture
def key_queries(db: Database) -> Iterator[KeyQueries]:
    counter = KeyQueries(db)
    event.listen(counter.engine, "before_cursor_execute", counter._on_execute)
    yield counter
    event.remove(counter.engine, "before_cursor_execute", counter._on_execute)


async def test_malformed_keys_cost_no_query_and_unknown_keys_one(api: Api, key_queries: KeyQueries) -> None:
    """Garbage is refused without a look-up; the same unknown key is looked up once, then remembered."""
    for garbage in ("x", "wsk_short", "wsk_" + "A" * 44, "Bearer"):
        response = await api.client.get("/v1/wallets", headers={"Authorization": f"Bearer {garbage}"})
        assert response.status_code == 401
    assert key_queries.count == 0
    for _ in range(5):
        response = await api.client.get("/v1/wallets", headers={"Authorization": f"Bearer {UNKNOWN_KEY}"})
        assert response.status_code == 401
    assert key_queries.count == 1


async def test_unverified_requests_are_throttled_per_client_address(
    make_api: Callable[..., Any], api_settings: Settings, keys: Keys
) -> None:
    """No key, bad keys and first uses of a key spend the address's budget; a verified key does not."""
    api: Api = await make_api(api_settings.model_copy(update={"api_auth_rate_limit": "3/minute"}))
    assert api.state.revocations is not None
    await asyncio.wait_for(api.state.revocations.listening.wait(), timeout=10)  # it empties the memo
    # A verified key, remembered by this process, is not charged to the address.
    for _ in range(5):
        assert (await api.client.get("/v1/wallets", headers=keys.read)).status_code == 200
    statuses = [
        (await api.client.get("/v1/wallets", headers=headers)).status_code
        for headers in ({}, {"Authorization": f"Bearer {UNKNOWN_KEY}"}, {"Authorization": "Bearer x"}, {})
    ]
    # The first of the 5 reads above spent one (the key was not yet verified): 2 left, then 429.
    assert statuses == [401, 401, 429, 429]
    refused = await api.client.get("/v1/wallets")
    assert refused.headers["retry-after"].isdigit()
    assert "without a valid API key" in refused.json()["detail"]
    # X-Forwarded-For is not believed from an untrusted peer: still the same (spent) address.
    spoofed = await api.client.get("/v1/wallets", headers={"X-Forwarded-For": "203.0.113.9"})
    assert spoofed.status_code == 429
    assert (await api.client.get("/v1/wallets", headers=keys.read)).status_code == 200


async def test_forwarded_for_counts_only_behind_a_trusted_proxy(
    make_api: Callable[..., Any], api_settings: Settings
) -> None:
    """With the test client's address as a trusted proxy, each forwarded client has its own budget."""
    api: Api = await make_api(
        api_settings.model_copy(
            update={"api_auth_rate_limit": "2/minute", "trusted_proxies": ["127.0.0.0/8"]}
        )
    )

    async def status(client: str) -> int:
        # A client may prepend anything; the proxy appends the address it saw, which is what counts.
        headers = {"X-Forwarded-For": f"198.51.100.1, {client}"}
        return (await api.client.get("/v1/wallets", headers=headers)).status_code

    assert [await status("203.0.113.1") for _ in range(3)] == [401, 401, 429]
    assert [await status("203.0.113.2") for _ in range(2)] == [401, 401]


async def test_a_revocation_from_the_cli_reaches_a_running_api_at_once(
    api: Api, keys: Keys, database_url: str, tmp_path: Path
) -> None:
    """The key is memoised for minutes here; `walletsync apikeys revoke` in another process still ends it."""
    memo = key_memo()
    ttl, memo.ttl = memo.ttl, 600.0  # only the notification can end the key within this test
    try:
        listener = getattr(api.state, "revocations", None)
        if listener is not None:
            await asyncio.wait_for(listener.listening.wait(), timeout=10)
        assert (await api.client.get("/v1/wallets", headers=keys.read)).status_code == 200
        revoked = await asyncio.to_thread(
            run_against, database_url, tmp_path, "apikeys", "revoke", str(keys.read_id)
        )
        assert revoked.returncode == 0, revoked.stderr
        statuses = []
        for _ in range(100):  # delivered when the CLI's transaction commits: well within a second
            statuses.append((await api.client.get("/v1/wallets", headers=keys.read)).status_code)
            if statuses[-1] == 401:
                break
            await asyncio.sleep(0.01)
        assert statuses[-1] == 401, statuses
    finally:
        memo.ttl = ttl
