"""Transactions, balances and sync state of a wallet, through the API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import insert, update

from tests.integration.api.conftest import SOLANA_ADDRESSES, T0, Api, Keys, seed_wallet_history
from walletsync.db.models import staking_balances, sync_state

pytestmark = pytest.mark.redis


async def test_transactions_newest_first_with_deltas(api: Api, keys: Keys) -> None:
    """Transactions come newest first, each with the wallet's balance changes as decimal strings."""
    seeded = await seed_wallet_history(api.db, n_txs=4)
    response = await api.client.get(f"/v1/wallets/{seeded.wallet_id}/transactions", headers=keys.read)
    assert response.status_code == 200
    items = response.json()["items"]
    assert [t["tx_id"] for t in items] == list(reversed(seeded.tx_ids))
    newest = items[0]
    assert newest["height"] == 1003
    assert newest["fee"] == "5000"
    assert {(d["asset_key"], d["amount"]) for d in newest["deltas"]} == {("native", "1000000")}
    oldest = items[-1]
    assert {(d["symbol"], d["amount"]) for d in oldest["deltas"]} == {("SOL", "1000000"), ("USDC", "5")}


async def test_transactions_paginate_without_duplicates_or_gaps(api: Api, keys: Keys) -> None:
    """Walking 95 transactions in pages of 10 returns each once, newest first."""
    seeded = await seed_wallet_history(api.db, n_txs=95)
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 10} | ({"cursor": cursor} if cursor else {})
        page = (
            await api.client.get(
                f"/v1/wallets/{seeded.wallet_id}/transactions", params=params, headers=keys.read
            )
        ).json()
        seen.extend(t["tx_id"] for t in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(seeded.tx_ids))


async def test_transactions_filter_by_asset_and_time(api: Api, keys: Keys) -> None:
    """`asset` keeps transactions that moved that asset; `since`/`until` bound block time (until exclusive)."""
    seeded = await seed_wallet_history(api.db, n_txs=10)
    url = f"/v1/wallets/{seeded.wallet_id}/transactions"
    usdc = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
    by_asset = (await api.client.get(url, params={"asset": usdc}, headers=keys.read)).json()["items"]
    assert [t["tx_id"] for t in by_asset] == [seeded.tx_ids[i] for i in (8, 6, 4, 2, 0)]

    window = {"since": (T0 + timedelta(hours=3)).isoformat(), "until": (T0 + timedelta(hours=6)).isoformat()}
    by_time = (await api.client.get(url, params=window, headers=keys.read)).json()["items"]
    assert [t["tx_id"] for t in by_time] == [seeded.tx_ids[i] for i in (5, 4, 3)]

    naive = {"since": "2026-01-01T08:00:00"}  # no offset: taken as UTC
    assert [
        t["tx_id"] for t in (await api.client.get(url, params=naive, headers=keys.read)).json()["items"]
    ] == [
        seeded.tx_ids[9],
        seeded.tx_ids[8],
    ]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "yesterday"}, "query.since"),
        ({"until": "0001-01-01T00:00:00+05:00"}, "query.until"),
        ({"cursor": "transactions.x.1"}, "query.cursor"),  # wrong position types
        ({"asset": ""}, "query.asset"),
    ],
)
async def test_transactions_bad_parameters_are_422(
    api: Api, keys: Keys, params: dict[str, str], field: str
) -> None:
    """Unparseable or out-of-range times and malformed cursors are 422 naming the parameter."""
    seeded = await seed_wallet_history(api.db, n_txs=1)
    response = await api.client.get(
        f"/v1/wallets/{seeded.wallet_id}/transactions", params=params, headers=keys.read
    )
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == [field]


@pytest.mark.parametrize("suffix", ["transactions", "balances", "sync"])
async def test_unknown_wallet_is_404(api: Api, keys: Keys, suffix: str) -> None:
    """Every per-wallet read of an unknown id is a 404 problem."""
    response = await api.client.get(f"/v1/wallets/424242/{suffix}", headers=keys.admin)
    assert response.status_code == 404
    assert response.json() == {
        "type": "urn:walletsync:problem:wallet-not-found",
        "title": "Wallet not found",
        "status": 404,
        "detail": "no wallet with id 424242",
    }


async def test_balances_now_and_at_a_time(api: Api, keys: Keys) -> None:
    """Balances sum the deltas (base units and exact decimal formatting); `at=` sums those up to then."""
    seeded = await seed_wallet_history(api.db, n_txs=10)
    url = f"/v1/wallets/{seeded.wallet_id}/balances"
    now = (await api.client.get(url, headers=keys.read)).json()
    assert now["at"] is None
    assert now["address"] == SOLANA_ADDRESSES[0]
    assert [(b["asset_key"], b["amount"], b["formatted"]) for b in now["balances"]] == [
        ("native", "10000000", "0.010000000"),
        ("EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", "25", "0.000025"),
    ]
    at = (
        await api.client.get(url, params={"at": (T0 + timedelta(hours=2)).isoformat()}, headers=keys.read)
    ).json()
    assert at["at"] == "2026-01-01T02:00:00Z"
    assert [(b["symbol"], b["amount"]) for b in at["balances"]] == [("SOL", "3000000"), ("USDC", "10")]


async def test_sync_status_reports_state_and_lag(api: Api, keys: Keys) -> None:
    """GET /sync shows status, last error and lag (seconds since the last completed sync)."""
    seeded = await seed_wallet_history(api.db, n_txs=1)
    async with api.db.write() as conn:
        await conn.execute(
            update(sync_state)
            .where(sync_state.c.wallet_id == seeded.wallet_id)
            .values(status="error", error="provider timed out", cursor={"before": "abc"}, last_height=1000)
        )
    body = (await api.client.get(f"/v1/wallets/{seeded.wallet_id}/sync", headers=keys.read)).json()
    assert body["status"] == "error"
    assert body["error"] == "provider timed out"
    assert body["cursor"] == {"before": "abc"}
    assert body["last_height"] == 1000
    assert body["lag_seconds"] > 0  # last synced at T0, in the past


async def test_staking_lines_carry_their_kind(api: Api, keys: Keys) -> None:
    """A stake account (observed at T0 + 5 h) is a `staked` line beside the liquid SOL, now and at a
    time after it was observed; before that it is absent (a snapshot has no past). The schema names
    the three kinds."""
    seeded = await seed_wallet_history(api.db, n_txs=10)
    async with api.db.write() as conn:
        await conn.execute(
            insert(staking_balances).values(
                wallet_id=seeded.wallet_id,
                kind="staked",
                source="StakeAccount1111111111111111111111111111111",
                asset_id=seeded.native_id,
                amount=2_002_282_880,
                observed_at=T0 + timedelta(hours=5),
            )
        )
    url = f"/v1/wallets/{seeded.wallet_id}/balances"
    now = (await api.client.get(url, headers=keys.read)).json()
    assert [(b["asset_key"], b["kind"], b["amount"], b["formatted"]) for b in now["balances"]] == [
        ("native", "liquid", "10000000", "0.010000000"),
        ("native", "staked", "2002282880", "2.002282880"),
        ("EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", "liquid", "25", "0.000025"),
    ]
    for hours, expected in (
        (4, [("SOL", "liquid", "5000000")]),
        (6, [("SOL", "liquid", "7000000"), ("SOL", "staked", "2002282880")]),
    ):
        at = (T0 + timedelta(hours=hours)).isoformat()
        body = (await api.client.get(url, params={"at": at}, headers=keys.read)).json()
        assert [
            (b["symbol"], b["kind"], b["amount"]) for b in body["balances"] if b["symbol"] == "SOL"
        ] == expected
    schema = (await api.client.get("/openapi.json")).json()["components"]["schemas"]["BalanceOut"]
    assert schema["properties"]["kind"]["enum"] == ["liquid", "staked", "rewards"]
