"""API keys: missing, unknown, wrong scope, revoked; public reads; the per-key rate limit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select, update

from tests.integration.api.conftest import SOLANA_ADDRESSES, Api, FakeClock, Keys, seed_wallet_history
from walletsync.api.keys import MEMO_TTL_S, create_key, hash_key, key_memo, list_keys, revoke_key, verify_key
from walletsync.config import Settings
from walletsync.db.models import api_keys

pytestmark = pytest.mark.redis


async def test_missing_key_is_401_with_challenge(api: Api) -> None:
    """Without a key, reads and writes are 401 with a Bearer challenge."""
    for method, path in [("GET", "/v1/wallets"), ("POST", "/v1/wallets/1/sync"), ("GET", "/v1/jobs")]:
        response = await api.client.request(method, path)
        assert response.status_code == 401, (method, path)
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.json()["title"] == "Unauthorized"


@pytest.mark.parametrize(
    "header",
    ["Bearer wsk_not-a-real-key-at-all-0123456789", "Bearer nonsense", "Basic dXNlcjpwYXNz", "Bearer "],
)
async def test_unknown_or_malformed_key_is_401(api: Api, header: str) -> None:
    """Unknown keys and other auth schemes are refused."""
    response = await api.client.get("/v1/wallets", headers={"Authorization": header})
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("key", "method", "path", "status"),
    [
        ("read", "POST", "/v1/wallets", 403),
        ("read", "DELETE", "/v1/wallets/1", 403),
        ("read", "POST", "/v1/wallets/1/sync", 403),
        ("write", "POST", "/v1/jobs/1/retry", 403),
        ("read", "POST", "/v1/jobs/1/retry", 403),
        ("write", "GET", "/v1/wallets", 200),
        ("admin", "GET", "/v1/wallets", 200),
    ],
)
async def test_scopes(api: Api, keys: Keys, key: str, method: str, path: str, status: int) -> None:
    """A key reaches routes of its scope and below (read < write < admin), never above."""
    body = (
        {"chain": "solana", "address": SOLANA_ADDRESSES[0]}
        if method == "POST" and path == "/v1/wallets"
        else None
    )
    response = await api.client.request(method, path, json=body, headers=getattr(keys, key))
    assert response.status_code == status, response.text
    if status == 403:
        assert "scope" in response.json()["detail"]


async def test_revoked_key_is_refused_at_once_in_this_process(api: Api, keys: Keys) -> None:
    """After `revoke_key`, the next request with the key is 401 (the process forgets its memo entry)."""
    assert (await api.client.get("/v1/wallets", headers=keys.read)).status_code == 200
    async with api.db.write() as conn:
        info = await revoke_key(conn, keys.read_id)
    assert info.revoked_at is not None
    assert (await api.client.get("/v1/wallets", headers=keys.read)).status_code == 401


async def test_key_revoked_elsewhere_is_refused_once_the_memo_expires(
    api: Api, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A revocation by another process counts here within MEMO_TTL_S seconds (clock injected)."""
    clock = FakeClock()
    monkeypatch.setattr(key_memo(), "clock", clock)
    assert (await api.client.get("/v1/wallets", headers=keys.read)).status_code == 200
    async with api.db.write() as conn:  # what `walletsync apikeys revoke` in another process does
        await conn.execute(
            update(api_keys).where(api_keys.c.id == keys.read_id).values(revoked_at=func.now())
        )
    assert (await api.client.get("/v1/wallets", headers=keys.read)).status_code == 200
    clock.advance(MEMO_TTL_S + 0.1)
    assert (await api.client.get("/v1/wallets", headers=keys.read)).status_code == 401


async def test_keys_are_stored_as_hashes_and_verified(api: Api) -> None:
    """The plaintext key is never stored; verification finds it by prefix and hash."""
    async with api.db.write() as conn:
        created = await create_key(conn, name="ci", scope="write")
        stored = (await conn.execute(select(api_keys))).one()
        assert created.key.startswith("wsk_")
        assert created.key not in (stored.key_hash, stored.key_prefix)
        assert stored.key_hash == hash_key(created.key)
        principal = await verify_key(conn, created.key)
        assert principal is not None
        assert (principal.name, principal.scope.value) == ("ci", "write")
        assert await verify_key(conn, created.key[:-1] + ("A" if created.key[-1] != "A" else "B")) is None
        listed = await list_keys(conn)
    assert [(k.name, k.scope.value, k.revoked_at) for k in listed] == [("ci", "write", None)]


async def test_public_reads_open_reads_but_not_writes_or_jobs(
    make_api: Callable[[Settings], Any], api_settings: Settings
) -> None:
    """With WALLETSYNC_PUBLIC_READS=true, wallet reads need no key; writes and job routes still do."""
    public: Api = await make_api(api_settings.model_copy(update={"public_reads": True}))
    seeded = await seed_wallet_history(public.db, n_txs=2)
    assert (await public.client.get("/v1/wallets")).status_code == 200
    assert (await public.client.get(f"/v1/wallets/{seeded.wallet_id}/balances")).status_code == 200
    assert (await public.client.post(f"/v1/wallets/{seeded.wallet_id}/sync")).status_code == 401
    assert (await public.client.get("/v1/jobs")).status_code == 401
    bad = await public.client.get(
        "/v1/wallets", headers={"Authorization": "Bearer wsk_unknown-key-0123456789"}
    )
    assert bad.status_code == 401  # a key that is sent must still be valid


async def test_rate_limit_is_per_key_with_retry_after(
    make_api: Callable[[Settings], Any], api_settings: Settings, keys: Keys
) -> None:
    """The fourth request in a minute under `3/minute` is 429 with Retry-After; another key is unaffected."""
    limited: Api = await make_api(api_settings.model_copy(update={"api_rate_limit": "3/minute"}))
    statuses = [(await limited.client.get("/v1/wallets", headers=keys.read)).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    refused = await limited.client.get("/v1/wallets", headers=keys.read)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.json()["title"] == "Too many requests"
    assert (await limited.client.get("/v1/wallets", headers=keys.write)).status_code == 200
