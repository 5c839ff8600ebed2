"""Inputs that used to reach Python's date arithmetic or PostgreSQL and fail there (500s) are refused
up front with a 422 problem naming the field: cursors out of int64, NUL characters anywhere, dates
outside 1970..2999, inverted ranges, and Unix timestamps."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.api.conftest import Api, Keys, seed_wallet_history

pytestmark = pytest.mark.redis


def _fields(response: Any) -> list[str]:
    assert response.status_code == 422, (response.status_code, response.text)
    assert response.headers["content-type"] == "application/problem+json"
    return [error["field"] for error in response.json()["errors"]]


async def test_cursor_positions_outside_int64_are_422_on_every_listing(api: Api, keys: Keys) -> None:
    """A forged cursor holding 2^63, a negative or a NUL is `query.cursor` invalid, not a SQL error."""
    seeded = await seed_wallet_history(api.db, n_txs=2)
    listings = {
        "/v1/wallets": "wallets",
        "/v1/jobs": "jobs",
        "/v1/assets": "assets",
        "/v1/exchanges": "exchanges",
        f"/v1/wallets/{seeded.wallet_id}/transactions": "transactions",
    }
    for path, kind in listings.items():
        tail = ".tx" if kind == "transactions" else ""
        for value in ("9223372036854775808", "-9223372036854775809", "1" + "0" * 40, "1%00"):
            response = await api.client.get(f"{path}?cursor={kind}.{value}{tail}", headers=keys.admin)
            assert _fields(response) == ["query.cursor"], (path, value)
        # The largest position a cursor can hold is served (an empty page past the end).
        response = await api.client.get(f"{path}?cursor={kind}.999999999999999999{tail}", headers=keys.admin)
        assert response.status_code == 200, (path, response.text)
    nul = f"/v1/wallets/{seeded.wallet_id}/transactions?cursor=transactions.5.a%00b"
    assert _fields(await api.client.get(nul, headers=keys.read)) == ["query.cursor"]


async def test_nul_characters_are_422_naming_the_field(api: Api, keys: Keys) -> None:
    """U+0000 in a query value, a query name, a path segment or a JSON body value or key is a 422."""
    seeded = await seed_wallet_history(api.db, n_txs=1)
    client = api.client
    cases = [
        (await client.get("/v1/wallets?group=a%00b", headers=keys.read), ["query.group"]),
        (await client.get("/v1/wallets?group=%00", headers=keys.read), ["query.group"]),
        (
            await client.get(f"/v1/wallets/{seeded.wallet_id}/transactions?asset=x%00", headers=keys.read),
            ["query.asset"],
        ),
        (await client.get("/v1/groups/a%00b/value", headers=keys.read), ["path.name"]),
        (await client.get("/v1/prices/SOL%00/USD", headers=keys.read), ["path.symbol"]),
        (
            await client.post(
                "/v1/wallets",
                content=b'{"chain": "solana", "address": "abc", "label": "x\\u0000y"}',
                headers={**keys.write, "Content-Type": "application/json"},
            ),
            ["body.label"],
        ),
        (
            await client.post(
                "/v1/wallets",
                content=b'{"chain": "solana", "address": "abc", "gro\\u0000up": "g"}',
                headers={**keys.write, "Content-Type": "application/json"},
            ),
            ["body.gro\x00up"],
        ),
    ]
    for response, fields in cases:
        assert _fields(response) == fields
        assert "NUL" in response.json()["detail"]


@pytest.mark.parametrize("route", ["/v1/wallets/{id}/value", "/v1/groups/main/value"])
@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"to": "0001-01-15"}, "query.to"),
        ({"from": "0001-01-01", "to": "2026-01-01"}, "query.from"),
        ({"to": "9999-12-31T23:59:59Z"}, "query.to"),
        ({"at": "0001-01-01T00:00:00+01:00"}, "query.at"),
        ({"at": "1969-12-31"}, "query.at"),
        ({"from": "2026-02-01", "to": "2026-01-01"}, "query.from"),
        ({"from": "2999-12-31"}, "query.from"),  # after `to`, which defaults to now
        ({"to": "0.5"}, "query.to"),
        ({"at": "1700000000"}, "query.at"),
    ],
)
async def test_value_routes_refuse_out_of_range_inverted_and_unix_times(
    api: Api, keys: Keys, route: str, params: dict[str, str], field: str
) -> None:
    """Dates outside years 1970..2999, `from` after `to` and Unix seconds are 422s naming the field."""
    seeded = await seed_wallet_history(api.db, n_txs=1)
    path = route.format(id=seeded.wallet_id)
    assert _fields(await api.client.get(path, params=params, headers=keys.read)) == [field]


async def test_edges_of_the_time_range_are_served(api: Api, keys: Keys) -> None:
    """The first and last accepted years answer 200 (with an empty series), as does a date-only value."""
    seeded = await seed_wallet_history(api.db, n_txs=1)
    for params in (
        {"from": "1970-01-01T00:00:00Z", "to": "2999-12-31T23:59:59Z", "interval": "1month"},
        {"at": "2026-01-01"},
        {"from": "2026-01-01T00:00:00+14:00", "to": "2026-01-01"},
    ):
        response = await api.client.get(
            f"/v1/wallets/{seeded.wallet_id}/value", params=params, headers=keys.read
        )
        assert response.status_code == 200, (params, response.text)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "0.5"}, "query.from"),
        ({"to": "1700000000"}, "query.to"),
        ({"from": "0001-01-01"}, "query.from"),
        ({"from": "2026-02-01", "to": "2026-01-01"}, "query.from"),
    ],
)
async def test_price_route_refuses_unix_out_of_range_and_inverted_times(
    api: Api, keys: Keys, params: dict[str, str], field: str
) -> None:
    """`/v1/prices/{symbol}` takes ISO 8601 only, in range and in order (before looking the symbol up)."""
    assert _fields(await api.client.get("/v1/prices/SOL/USD", params=params, headers=keys.read)) == [field]


async def test_transactions_refuse_inverted_range(api: Api, keys: Keys) -> None:
    """`since` after `until` is a 422 naming `since`; equal bounds are an empty page."""
    seeded = await seed_wallet_history(api.db, n_txs=1)
    path = f"/v1/wallets/{seeded.wallet_id}/transactions"
    bad = await api.client.get(path, params={"since": "2026-02-01", "until": "2026-01-01"}, headers=keys.read)
    assert _fields(bad) == ["query.since"]
    empty = await api.client.get(
        path, params={"since": "2026-01-01", "until": "2026-01-01"}, headers=keys.read
    )
    assert empty.json()["items"] == []
