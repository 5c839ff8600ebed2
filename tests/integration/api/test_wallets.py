"""`/v1/wallets`: add, list (cursor pagination over 1,000 rows), show, remove, and their errors."""

from __future__ import annotations

import os

import base58
import pytest
from sqlalchemy import func, insert, select

from tests.integration.api.conftest import CARDANO_ADDRESS, SOLANA_ADDRESSES, Api, Keys
from walletsync.db.models import wallets
from walletsync.jobs.tables import procrastinate_jobs

pytestmark = pytest.mark.redis


async def test_add_wallet_returns_it_with_location_and_queues_a_sync(api: Api, keys: Keys) -> None:
    """POST /v1/wallets answers 201 with the wallet, a Location header and the id of its queued sync job."""
    response = await api.client.post(
        "/v1/wallets",
        json={"chain": "solana", "address": f"  {SOLANA_ADDRESSES[0]} ", "label": "main", "group": "alice"},
        headers=keys.write,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["address"] == SOLANA_ADDRESSES[0]
    assert (body["chain"], body["label"], body["group"]) == ("solana", "main", "alice")
    assert response.headers["location"] == f"/v1/wallets/{body['id']}"
    async with api.db.read() as conn:
        job = (
            await conn.execute(
                select(procrastinate_jobs).where(procrastinate_jobs.c.id == body["sync_job_id"])
            )
        ).one()
    assert job.task_name == "sync_wallet"
    assert job.args == {"wallet_id": body["id"]}


async def test_add_cardano_wallet(api: Api, keys: Keys) -> None:
    """A valid Cardano address is accepted too."""
    response = await api.client.post(
        "/v1/wallets", json={"chain": "cardano", "address": CARDANO_ADDRESS}, headers=keys.admin
    )
    assert response.status_code == 201, response.text
    assert response.json()["chain"] == "cardano"


async def test_duplicate_wallet_is_409(api: Api, keys: Keys) -> None:
    """Adding the same (chain, address) twice is a 409 problem; only one row exists."""
    body = {"chain": "solana", "address": SOLANA_ADDRESSES[1]}
    assert (await api.client.post("/v1/wallets", json=body, headers=keys.write)).status_code == 201
    response = await api.client.post("/v1/wallets", json=body, headers=keys.write)
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 409
    assert problem["title"] == "Wallet already tracked"
    assert SOLANA_ADDRESSES[1] in problem["detail"]
    async with api.db.read() as conn:
        assert (await conn.execute(select(func.count()).select_from(wallets))).scalar() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"chain": "solana", "address": "not-base58-0OIl"}, "body.address"),
        ({"chain": "cardano", "address": SOLANA_ADDRESSES[0]}, "body.address"),
        ({"chain": "bitcoin", "address": SOLANA_ADDRESSES[0]}, "body.chain"),
        ({"address": SOLANA_ADDRESSES[0]}, "body.chain"),
        ({"chain": "solana", "address": SOLANA_ADDRESSES[0], "label": False}, "body.label"),
        ({"chain": "solana", "address": SOLANA_ADDRESSES[0], "label": 7}, "body.label"),
        ({"chain": "solana", "address": SOLANA_ADDRESSES[0], "owner": "me"}, "body.owner"),
        ({"chain": "solana", "address": ""}, "body.address"),
    ],
)
async def test_invalid_wallet_is_422_naming_the_field(
    api: Api, keys: Keys, body: dict[str, object], field: str
) -> None:
    """Bad addresses, unknown chains, wrong types (strict: `false` is not a string) and unknown fields are 422."""
    response = await api.client.post("/v1/wallets", json=body, headers=keys.write)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["status"] == 422
    assert field in [e["field"] for e in problem["errors"]]
    assert field in problem["detail"]


async def test_malformed_json_is_400(api: Api, keys: Keys) -> None:
    """A body that is not JSON is a 400 problem, not a 422 and not a traceback."""
    response = await api.client.post(
        "/v1/wallets",
        content=b'{"chain": "solana",',
        headers={**keys.write, "content-type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["title"] == "Malformed request body"
    assert "Traceback" not in response.text


async def test_get_and_delete_wallet(api: Api, keys: Keys) -> None:
    """GET shows the wallet; DELETE answers 204; afterwards GET and DELETE are 404."""
    created = (
        await api.client.post(
            "/v1/wallets", json={"chain": "solana", "address": SOLANA_ADDRESSES[2]}, headers=keys.write
        )
    ).json()
    shown = await api.client.get(f"/v1/wallets/{created['id']}", headers=keys.read)
    assert shown.status_code == 200
    assert shown.json()["address"] == SOLANA_ADDRESSES[2]

    deleted = await api.client.delete(f"/v1/wallets/{created['id']}", headers=keys.write)
    assert deleted.status_code == 204
    assert deleted.content == b""
    again = await api.client.get(f"/v1/wallets/{created['id']}", headers=keys.read)
    assert again.status_code == 404
    assert again.json()["title"] == "Wallet not found"
    assert (await api.client.delete(f"/v1/wallets/{created['id']}", headers=keys.write)).status_code == 404


@pytest.mark.parametrize("path", ["/v1/wallets/0", "/v1/wallets/abc", "/v1/wallets/99999999999999999999"])
async def test_bad_wallet_ids_are_422(api: Api, keys: Keys, path: str) -> None:
    """Ids that are not positive 64-bit integers are 422 naming `path.wallet_id` (never a database error)."""
    response = await api.client.get(path, headers=keys.read)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "path.wallet_id"


async def test_pagination_walks_1000_wallets_without_duplicates_or_gaps(api: Api, keys: Keys) -> None:
    """Following next_cursor through 1,000 wallets (pages of 64) yields each exactly once, in id order."""
    addresses = [base58.b58encode(os.urandom(32)).decode() for _ in range(1000)]
    async with api.db.write() as conn:
        await conn.execute(insert(wallets), [{"chain": "solana", "address": a} for a in addresses])
        expected = list((await conn.execute(select(wallets.c.id).order_by(wallets.c.id))).scalars())

    seen: list[int] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"limit": 64}
        if cursor:
            params["cursor"] = cursor
        response = await api.client.get("/v1/wallets", params=params, headers=keys.read)
        assert response.status_code == 200, response.text
        page = response.json()
        pages += 1
        assert len(page["items"]) <= 64
        seen.extend(item["id"] for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == expected
    assert len(set(seen)) == 1000
    assert pages == 16  # 15 full pages and one of 40


async def test_list_filters_by_chain_and_group(api: Api, keys: Keys) -> None:
    """`chain` and `group` narrow the list."""
    for address, group in zip(SOLANA_ADDRESSES[:3], ["a", "a", "b"], strict=True):
        await api.client.post(
            "/v1/wallets", json={"chain": "solana", "address": address, "group": group}, headers=keys.write
        )
    await api.client.post(
        "/v1/wallets", json={"chain": "cardano", "address": CARDANO_ADDRESS}, headers=keys.write
    )

    solana = (await api.client.get("/v1/wallets", params={"chain": "solana"}, headers=keys.read)).json()
    assert {w["address"] for w in solana["items"]} == set(SOLANA_ADDRESSES[:3])
    group_a = (await api.client.get("/v1/wallets", params={"group": "a"}, headers=keys.read)).json()
    assert [w["address"] for w in group_a["items"]] == SOLANA_ADDRESSES[:2]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "query.limit"),
        ({"limit": 501}, "query.limit"),
        ({"limit": "false"}, "query.limit"),
        ({"cursor": "!!!"}, "query.cursor"),
        ({"cursor": "jobs.1"}, "query.cursor"),  # a jobs cursor on the wallets list
        ({"chain": "dogecoin"}, "query.chain"),
    ],
)
async def test_bad_list_parameters_are_422(
    api: Api, keys: Keys, params: dict[str, object], field: str
) -> None:
    """Out-of-range limits, foreign or garbled cursors and unknown chains are 422 naming the parameter."""
    response = await api.client.get("/v1/wallets", params=params, headers=keys.read)
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == [field]


async def test_cardano_address_in_other_case_or_network_is_not_a_new_wallet(api: Api, keys: Keys) -> None:
    """The uppercase spelling of a tracked address is a 409; a testnet address on mainnet is a 422."""
    from walletsync.simulator.encoding import bech32_encode

    first = await api.client.post(
        "/v1/wallets", json={"chain": "cardano", "address": CARDANO_ADDRESS}, headers=keys.write
    )
    assert first.status_code == 201, first.text
    again = await api.client.post(
        "/v1/wallets", json={"chain": "cardano", "address": CARDANO_ADDRESS.upper()}, headers=keys.write
    )
    assert again.status_code == 409, again.text
    testnet = bech32_encode("addr_test", bytes([0x00]) + bytes(range(56)))
    refused = await api.client.post(
        "/v1/wallets", json={"chain": "cardano", "address": testnet}, headers=keys.write
    )
    assert refused.status_code == 422
    assert [e["field"] for e in refused.json()["errors"]] == ["body.address"]
    assert "WALLETSYNC_CARDANO_NETWORK" in refused.json()["detail"]
    async with api.db.read() as conn:
        assert (await conn.execute(select(func.count()).select_from(wallets))).scalar_one() == 1
