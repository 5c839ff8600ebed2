"""Valuation, leaderboard, asset, price and exchange routes through the real app, Redis cache included."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import insert

from tests.facts import hold_sol
from tests.integration.api.conftest import Api, Keys
from tests.integration.market.facts import WALLETS, T, build_portfolio
from walletsync.config import Chain
from walletsync.db.models import assets, balance_deltas, transactions, wallet_transactions
from walletsync.market.catalog import upsert_exchanges
from walletsync.providers.types import ExchangeInfo
from walletsync.wallets.repository import add_wallet

pytestmark = pytest.mark.redis

SOLANA_ADDRESSES = (
    "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM",
    "So11111111111111111111111111111111111111112",
    "Vote111111111111111111111111111111111111111",
)


def _cache_count(name: str, result: str) -> float:
    return (
        REGISTRY.get_sample_value("walletsync_cache_requests_total", {"name": name, "result": result}) or 0.0
    )


async def test_wallet_value_route_with_series(api: Api, keys: Keys) -> None:
    """The value route returns exact decimal strings, unpriced holdings apart, and the hourly series."""
    p = await build_portfolio(api.db, api.settings)
    w1 = p.wallet_ids["w1"]
    params = {
        "interval": "1h",
        "from": (T - timedelta(hours=5)).isoformat(),
        "to": (T - timedelta(hours=1)).isoformat(),
    }
    response = await api.client.get(f"/v1/wallets/{w1}/value", params=params, headers=keys.read)
    assert response.status_code == 200, response.text
    body = response.json()
    assert Decimal(body["total"]) == p.value("w1")
    assert body["complete"] is False
    assert body["quote"] == "USD"
    assert [pos["symbol"] for pos in body["positions"]] == ["SOL", "USDC"]
    assert body["positions"][0]["amount"] == str(5_000_000_000 - 1_234_567_890 + 7)
    assert {u["symbol"] for u in body["unpriced"]} == {"UNL", None}
    series = body["series"]
    assert series["interval"] == "1h"
    assert datetime.fromisoformat(series["from"]) == T - timedelta(hours=5)
    assert len(series["points"]) == 5
    assert Decimal(series["points"][-1]["value"]) == p.value("w1")


async def test_wallet_value_errors(api: Api, keys: Keys) -> None:
    """Unknown wallet 404, unknown interval 422, no key 401 (problem documents); a wide range is fine."""
    p = await build_portfolio(api.db, api.settings)
    missing = await api.client.get("/v1/wallets/999999/value", headers=keys.read)
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    bad = await api.client.get(
        f"/v1/wallets/{p.wallet_ids['w1']}/value", params={"interval": "3h"}, headers=keys.read
    )
    assert bad.status_code == 422
    wide = await api.client.get(
        f"/v1/wallets/{p.wallet_ids['w1']}/value",
        params={"interval": "1h", "from": "2020-01-01T00:00:00Z", "to": "2030-01-01T00:00:00Z"},
        headers=keys.read,
    )
    assert len(wide.json()["series"]["points"]) == 48  # the stored bars bound the series, not the range
    assert (await api.client.get(f"/v1/wallets/{p.wallet_ids['w1']}/value")).status_code == 401


async def test_group_value_route(api: Api, keys: Keys) -> None:
    """A group's total is the sum of its wallets across chains; an unknown group is a 404."""
    p = await build_portfolio(api.db, api.settings)
    body = (await api.client.get("/v1/groups/treasury/value", headers=keys.read)).json()
    assert Decimal(body["total"]) == p.value("w1") + p.value("w2")
    assert [w["chain"] for w in body["wallets"]] == ["solana", "cardano"]
    assert body["series"] is None
    assert (await api.client.get("/v1/groups/nobody/value", headers=keys.read)).status_code == 404


async def test_leaderboard_route_is_cached(api: Api, keys: Keys) -> None:
    """The board is computed once, then served from Redis (hits counted) until its TTL, even as facts change."""
    p = await build_portfolio(api.db, api.settings)
    hits, misses = _cache_count("leaderboard", "hit"), _cache_count("leaderboard", "miss")
    first = await api.client.get("/v1/leaderboards/value", params={"limit": 5}, headers=keys.read)
    assert first.status_code == 200
    ids = {v: k for k, v in p.wallet_ids.items()}
    assert [ids[e["wallet_id"]] for e in first.json()["entries"]] == ["w3", "w1", "w2"]
    assert Decimal(first.json()["entries"][1]["score"]) == p.value("w1")

    # w2 becomes the richest; the cached board does not see it
    chain = WALLETS["w2"][0]
    async with api.db.write() as conn:
        await conn.execute(
            insert(transactions).values(chain=chain, tx_id="big", height=1, block_time=T, fee=0, success=True)
        )
        await conn.execute(
            insert(wallet_transactions).values(
                wallet_id=p.wallet_ids["w2"], chain=chain, tx_id="big", height=1, block_time=T
            )
        )
        await conn.execute(
            insert(balance_deltas).values(
                wallet_id=p.wallet_ids["w2"],
                chain=chain,
                tx_id="big",
                asset_id=p.asset_ids["ADA"],
                amount=10**15,
                block_time=T,
                height=1,
            )
        )
    second = await api.client.get("/v1/leaderboards/value", params={"limit": 5}, headers=keys.read)
    assert second.content == first.content
    assert _cache_count("leaderboard", "hit") == hits + 1
    assert _cache_count("leaderboard", "miss") == misses + 1

    other_key = await api.client.get("/v1/leaderboards/value", params={"limit": 2}, headers=keys.read)
    assert [ids[e["wallet_id"]] for e in other_key.json()["entries"]] == ["w2", "w3"]
    assert _cache_count("leaderboard", "miss") == misses + 2


async def test_value_leaderboard_before_any_price_sync(api: Api, keys: Keys) -> None:
    """A fresh install (wallets hold assets, no price stored): every score is null, never "0", with
    the holdings counted as unpriced; the wallets are listed by id."""
    async with api.db.write() as conn:
        native = await conn.scalar(
            insert(assets)
            .values(chain="solana", asset_key="native", symbol="SOL", decimals=9)
            .returning(assets.c.id)
        )
        token = await conn.scalar(
            insert(assets)
            .values(chain="solana", asset_key="MINT", symbol="TOK", decimals=6)
            .returning(assets.c.id)
        )
        await conn.execute(insert(transactions).values(chain="solana", tx_id="t", fee=0, success=True))
        holdings = [(native, token), (native,), (token,)]
        wallet_ids = []
        for address, held in zip(SOLANA_ADDRESSES, holdings, strict=True):
            wallet = await add_wallet(conn, chain=Chain.SOLANA, address=address)
            wallet_ids.append(wallet.id)
            await conn.execute(
                insert(balance_deltas).values(
                    [
                        {"wallet_id": wallet.id, "chain": "solana", "tx_id": "t", "asset_id": a, "amount": 7}
                        for a in held
                    ]
                )
            )
    response = await api.client.get("/v1/leaderboards/value", headers=keys.read)
    assert response.status_code == 200, response.text
    entries = response.json()["entries"]
    assert [(e["rank"], e["wallet_id"], e["score"], e["unpriced_assets"]) for e in entries] == [
        (1, wallet_ids[0], None, 2),
        (2, wallet_ids[1], None, 1),
        (3, wallet_ids[2], None, 1),
    ]


async def test_activity_leaderboard_and_bad_kind(api: Api, keys: Keys) -> None:
    """activity_7d counts transactions per wallet in the last week (now); an unknown board is a 422."""
    await build_portfolio(api.db, api.settings)
    body = (
        await api.client.get("/v1/leaderboards/activity_7d", params={"chain": "solana"}, headers=keys.read)
    ).json()
    assert body["entries"] == []  # the facts are from 2025: nothing in the last 7 days of the real clock
    assert body["since"] is not None
    assert (await api.client.get("/v1/leaderboards/richest", headers=keys.read)).status_code == 422


async def test_assets_prices_and_exchanges(api: Api, keys: Keys) -> None:
    """Assets show their price or null (never 0); bars of SOL/USD page by time; exchanges list the catalog."""
    p = await build_portfolio(api.db, api.settings)
    async with api.db.write() as conn:
        await upsert_exchanges(
            conn,
            [
                ExchangeInfo(kind="stock", name="NASDAQ", code="XNGS"),
                ExchangeInfo(kind="crypto", name="Kraken"),
            ],
        )
    assets = (await api.client.get("/v1/assets", params={"chain": "solana"}, headers=keys.read)).json()[
        "items"
    ]
    by_id = {a["id"]: a for a in assets}
    sol = by_id[p.asset_ids["SOL"]]
    assert sol["priced"] is True
    assert Decimal(sol["price"]) == p.close_at("SOL", T)
    assert by_id[p.asset_ids["UNLINKED"]]["price"] is None
    assert by_id[p.asset_ids["UNLINKED"]]["priced"] is False

    bars = await api.client.get(
        "/v1/prices/SOL/USD",
        params={
            "interval": "1h",
            "from": (T - timedelta(hours=3)).isoformat(),
            "to": (T - timedelta(hours=2)).isoformat(),
        },
        headers=keys.read,
    )
    assert bars.status_code == 200, bars.text
    truth = [
        c
        for c in p.market.candles("SOL/USD", "1h")
        if T - timedelta(hours=3) <= c.ts <= T - timedelta(hours=2)
    ]
    assert [Decimal(b["close"]) for b in bars.json()["bars"]] == [c.close for c in truth]
    encoded = await api.client.get("/v1/prices/sol%2Fusd", params={"limit": 3}, headers=keys.read)
    assert len(encoded.json()["bars"]) == 3
    assert (await api.client.get("/v1/prices/NOPE/USD", headers=keys.read)).status_code == 404

    page1 = (await api.client.get("/v1/exchanges", params={"limit": 1}, headers=keys.read)).json()
    assert [e["name"] for e in page1["items"]] == ["NASDAQ"]
    page2 = (
        await api.client.get(
            "/v1/exchanges", params={"limit": 1, "cursor": page1["next_cursor"]}, headers=keys.read
        )
    ).json()
    assert [e["name"] for e in page2["items"]] == ["Kraken"]
    assert page2["next_cursor"] is None


async def test_value_total_is_null_when_nothing_is_priced(api: Api, keys: Keys) -> None:
    """Holdings but no price at all (a fresh install): `total` is null, not "0"; an empty wallet is 0."""
    from walletsync.config import Chain
    from walletsync.wallets.repository import add_wallet

    async with api.db.write() as conn:
        held = await add_wallet(
            conn, chain=Chain.SOLANA, address="9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM", group="g"
        )
        empty = await add_wallet(
            conn, chain=Chain.SOLANA, address="So11111111111111111111111111111111111111112"
        )
        await hold_sol(conn, held.id, 7)
    body = (await api.client.get(f"/v1/wallets/{held.id}/value", headers=keys.read)).json()
    assert body["total"] is None
    assert body["complete"] is False
    assert body["unpriced"][0]["reason"].startswith("no prices synced yet")
    group = (await api.client.get("/v1/groups/g/value", headers=keys.read)).json()
    assert group["total"] is None
    assert group["wallets"][0]["total"] is None
    nothing = (await api.client.get(f"/v1/wallets/{empty.id}/value", headers=keys.read)).json()
    assert nothing["total"] == "0"
