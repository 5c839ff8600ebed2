"""The simulator over real HTTP: rate limits, per-endpoint faults, outages, admin routes, process mode."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from walletsync.simulator import FaultConfig, FaultRule, Ledger, Outage, RateLimit, SimulatorServer


class FakeClock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def ledger() -> Ledger:
    return Ledger(seed=21, solana_wallets=2, cardano_wallets=2)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def server(ledger: Ledger, clock: FakeClock) -> Iterator[SimulatorServer]:
    with SimulatorServer(ledger, clock=clock) as running:
        yield running


def _slot_call(call_id: int = 1) -> dict[str, object]:
    return {"jsonrpc": "2.0", "id": call_id, "method": "getSlot"}


async def test_burst_over_the_limit_gets_429_with_retry_after(
    server: SimulatorServer, clock: FakeClock, real_responses: Path
) -> None:
    """A concurrent burst of 12 against burst 5: 5 served, 7 answered 429 + Retry-After, 7 violations."""
    server.set_faults(FaultConfig(rate_limits={"blockfrost": RateLimit(rate=0.5, burst=5)}))
    url = server.url("blockfrost", 1) + "/blocks/latest"
    async with httpx.AsyncClient(timeout=10) as client:
        responses = await asyncio.gather(*(client.get(url) for _ in range(12)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 5 + [429] * 7
    limited = [r for r in responses if r.status_code == 429]
    assert {r.headers["retry-after"] for r in limited} == {"2"}
    expected = json.loads((real_responses / "blockfrost/spec_assembled/error_429.json").read_text())
    assert all(r.json() == expected for r in limited)
    stats = server.stats()
    assert stats["violations"]["blockfrost"] == 7
    assert stats["requests"]["blockfrost"] == 12
    clock.now += 2  # one token back
    async with httpx.AsyncClient(timeout=10) as client:
        assert (await client.get(url)).status_code == 200
        assert (await client.get(url)).status_code == 429


def test_solana_batch_costs_one_token_per_call(server: SimulatorServer) -> None:
    """A batch of 4 uses 4 of 5 tokens; the next batch of 2 is refused with a JSON-RPC 429 error."""
    server.set_faults(FaultConfig(rate_limits={"solana": RateLimit(rate=1, burst=5)}))
    url = server.url("solana")
    first = httpx.post(url, json=[_slot_call(i) for i in range(4)])
    assert first.status_code == 200
    assert len(first.json()) == 4
    refused = httpx.post(url, json=[_slot_call(i) for i in range(2)])
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == 429
    assert refused.headers["retry-after"] == "1"
    assert httpx.post(url, json=_slot_call()).status_code == 200
    assert server.stats()["violations"]["solana"] == 1


def test_faults_target_endpoint_indices(server: SimulatorServer) -> None:
    """5xx on solana/1, malformed bodies on blockfrost/2, and endpoint 0 stays healthy."""
    server.set_faults(
        FaultConfig(
            endpoints={
                "solana/1": FaultRule(fail_rate=1.0),
                "blockfrost/2": FaultRule(malformed_rate=1.0),
                "twelvedata/1": FaultRule(fail_rate=1.0),
            }
        )
    )
    assert httpx.post(server.url("solana", 1), json=_slot_call()).status_code in (500, 503)
    assert httpx.post(server.url("solana", 0), json=_slot_call()).status_code == 200
    broken = httpx.get(server.url("blockfrost", 2) + "/blocks/latest")
    assert broken.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(broken.content)
    assert httpx.get(server.url("blockfrost", 0) + "/blocks/latest").json()["height"] > 0
    td = httpx.get(server.url("twelvedata", 1) + "/stocks")
    assert td.status_code == 500
    assert td.json()["status"] == "error"
    faults = server.stats()["faults"]
    assert faults["server_error"] == 2
    assert faults["malformed"] == 1


def test_outages_follow_the_window_and_mode(server: SimulatorServer, clock: FakeClock) -> None:
    """A 503 outage of solana/2 for [0, 30) s and a dropped connection on blockfrost/1 for good."""
    server.set_faults(
        FaultConfig(
            outages=[
                Outage(provider="solana", endpoint=2, start_s=0, end_s=30, mode="503"),
                Outage(provider="blockfrost", endpoint=1, mode="close"),
            ]
        )
    )
    assert httpx.post(server.url("solana", 2), json=_slot_call()).status_code == 503
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(server.url("blockfrost", 1) + "/blocks/latest")
    clock.now += 31
    assert httpx.post(server.url("solana", 2), json=_slot_call()).status_code == 200
    assert server.stats()["faults"]["outage"] == 2


def test_timeout_makes_the_client_time_out(server: SimulatorServer) -> None:
    """A hanging response outlives the client's timeout."""
    server.set_faults(FaultConfig(providers={"twelvedata": FaultRule(timeout_rate=1.0, hang_s=20)}))
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(server.url("twelvedata") + "/stocks", timeout=0.3)
    assert server.stats()["faults"]["timeout"] == 1


def test_admin_routes_replace_faults_and_reset(server: SimulatorServer) -> None:
    """POST /_admin/faults takes effect, GET /_admin/stats counts, POST /_admin/reset zeroes."""
    base = server.base_url
    config = {"providers": {"solana": {"fail_rate": 1.0}}}
    assert httpx.post(f"{base}/_admin/faults", json=config).status_code == 200
    assert httpx.post(f"{base}/solana", json=_slot_call()).status_code in (500, 503)
    assert httpx.post(f"{base}/_admin/faults", json={"default": {"fail_rate": 3}}).status_code == 422
    stats = httpx.get(f"{base}/_admin/stats").json()
    assert stats["requests"]["solana"] == 1
    assert stats["faults"]["server_error"] == 1
    assert httpx.post(f"{base}/_admin/reset").json()["requests"]["solana"] == 0
    assert (
        httpx.get(f"{base}/_admin/ledger").json()["solana"][0]["address"]
        == server.wallets()["solana"][0]["address"]
    )


def test_auth_is_enforced_when_configured(ledger: Ledger) -> None:
    """Blockfrost needs the project_id header, Twelve Data the apikey, when the server has them."""
    with SimulatorServer(ledger, blockfrost_project_id="proj", twelvedata_api_key="key") as server:
        assert httpx.get(server.url("blockfrost") + "/blocks/latest").status_code == 403
        ok = httpx.get(server.url("blockfrost") + "/blocks/latest", headers={"project_id": "proj"})
        assert ok.status_code == 200
        assert httpx.get(server.url("twelvedata") + "/stocks").json()["code"] == 401
        assert (
            httpx.get(server.url("twelvedata") + "/stocks", params={"apikey": "key"}).json()["status"] == "ok"
        )


def test_process_mode_serves_the_same_ledger() -> None:
    """A child-process server built from the same kwargs serves the same wallets and balances."""
    kwargs = {"seed": 33, "solana_wallets": 1, "cardano_wallets": 1}
    local = Ledger(**kwargs)
    faults = FaultConfig(rate_limits={"twelvedata": RateLimit(rate=1, burst=1)})
    with SimulatorServer(process=True, ledger_kwargs=kwargs, faults=faults) as server:
        assert [w["address"] for w in server.wallets()["solana"]] == local.solana_wallets
        wallet = local.solana_wallets[0]
        body = {"jsonrpc": "2.0", "id": 1, "method": "getBalance", "params": [wallet]}
        assert httpx.post(server.url("solana", 3), json=body).json()["result"][
            "value"
        ] == local.solana_lamports(wallet)
        statuses = [httpx.get(server.url("twelvedata") + "/stocks").status_code for _ in range(2)]
        assert statuses == [200, 429]
        assert server.stats()["violations"]["twelvedata"] == 1
