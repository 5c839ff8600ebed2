"""The simulated Blockfrost API: spec shapes, UTXO ground truth, paging, errors and auth."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from walletsync.config import Chain
from walletsync.simulator.blockfrost import Blockfrost
from walletsync.simulator.ledger import Ledger
from walletsync.simulator.wire import SimRequest

from .shapes import assert_same_shape, get, load


@pytest.fixture(scope="module")
def ledger() -> Ledger:
    return Ledger(seed=5, solana_wallets=0, cardano_wallets=3, exact_cardano_wallets=(250,))


@pytest.fixture(scope="module")
def handler(ledger: Ledger) -> Blockfrost:
    return Blockfrost(ledger.cardano)


def _history(handler: Blockfrost, address: str, **query: Any) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    page = 1
    while True:
        response = get(handler, f"/addresses/{address}/transactions", page=page, **query)
        assert response.status == 200
        body = response.json()
        entries += body
        if len(body) < int(query.get("count", 100)):
            return entries
        page += 1


def test_tx_and_utxos_match_the_spec(handler: Blockfrost, ledger: Ledger, real_responses: Path) -> None:
    """/txs/{hash} and /txs/{hash}/utxos have every spec field with its type (quantities as strings)."""
    wallet = ledger.cardano_wallets[0]
    tx_hash = _history(handler, wallet)[0]["tx_hash"]
    tx = get(handler, f"/txs/{tx_hash}").json()
    assert_same_shape(tx, load(real_responses, "blockfrost/spec_assembled/txs.json"))
    assert isinstance(tx["fees"], str)
    assert isinstance(tx["block_height"], int)
    utxos = get(handler, f"/txs/{tx_hash}/utxos").json()
    assert_same_shape(
        utxos,
        load(real_responses, "blockfrost/spec_assembled/txs_utxos.json"),
        nullable=frozenset(
            {
                "$.outputs[].consumed_by_tx",
                "$.inputs[].data_hash",
                "$.inputs[].inline_datum",
                "$.inputs[].reference_script_hash",
                "$.outputs[].data_hash",
                "$.outputs[].inline_datum",
                "$.outputs[].reference_script_hash",
            }
        ),
    )
    assert all(isinstance(a["quantity"], str) for o in utxos["outputs"] for a in o["amount"])


def test_address_history_asset_and_block_match_the_spec(
    handler: Blockfrost, ledger: Ledger, real_responses: Path
) -> None:
    """/addresses/{a}, its transactions, /assets/{unit} and /blocks/latest have the spec shapes."""
    wallet = ledger.cardano_wallets[0]
    address = get(handler, f"/addresses/{wallet}").json()
    assert_same_shape(address, load(real_responses, "blockfrost/spec_assembled/addresses_address.json"))
    assert address["stake_address"].startswith("stake1")
    assert address["type"] == "shelley"
    history = _history(handler, wallet)
    assert_same_shape(history, load(real_responses, "blockfrost/spec_example_addresses_transactions.json"))
    for unit, decimals in ledger.cardano_assets.items():
        asset = get(handler, f"/assets/{unit}").json()
        real = load(real_responses, "blockfrost/spec_assembled/assets_asset.json")
        assert_same_shape(asset, real, nullable=frozenset({"$.metadata", "$.metadata.logo"}))
        # Decimals from the token registry, or else a CIP-68 datum (never both here; HOSKY has neither).
        cip68 = asset["onchain_metadata"] if asset["onchain_metadata_standard"] == "CIP68v1" else None
        assert (asset["metadata"] or cip68 or {}).get("decimals") == decimals
        assert asset["metadata"] is None or cip68 is None
        assert asset["fingerprint"].startswith("asset1")
    latest = get(handler, "/blocks/latest").json()
    real_block = load(real_responses, "blockfrost/spec_assembled/blocks_latest.json")
    assert_same_shape(latest, real_block, nullable=frozenset({"$.next_block"}))  # the tip has no next block


def _effects(handler: Blockfrost, address: str, tx_hash: str, *, honour_flags: bool = True) -> Counter[str]:
    valid = get(handler, f"/txs/{tx_hash}").json()["valid_contract"]
    utxos = get(handler, f"/txs/{tx_hash}/utxos").json()
    effect: Counter[str] = Counter()
    for side, sign in (("outputs", 1), ("inputs", -1)):
        for entry in utxos[side]:
            if entry["address"] != address:
                continue
            if honour_flags:
                if entry.get("reference"):
                    continue
                # a valid tx spends its regular inputs; a failed script tx only its collateral
                if entry["collateral"] == valid:
                    continue
            for amount in entry["amount"]:
                effect[amount["unit"]] += sign * int(amount["quantity"])
    return effect


def test_served_utxos_sum_to_served_balances(handler: Blockfrost, ledger: Ledger) -> None:
    """Per wallet, UTXO effects (collateral and reference flags honoured) sum to /addresses amounts."""
    naive_differs = False
    for wallet in ledger.cardano_wallets:
        history = _history(handler, wallet)
        assert {h["tx_hash"] for h in history} == ledger.wallet_tx_ids(Chain.CARDANO, wallet)
        total: Counter[str] = Counter()
        naive: Counter[str] = Counter()
        for entry in history:
            for unit, qty in _effects(handler, wallet, entry["tx_hash"]).items():
                total[unit] += qty
            for unit, qty in _effects(handler, wallet, entry["tx_hash"], honour_flags=False).items():
                naive[unit] += qty
        served = {
            a["unit"]: int(a["quantity"]) for a in get(handler, f"/addresses/{wallet}").json()["amount"]
        }
        assert {u: q for u, q in total.items() if q} == {u: q for u, q in served.items() if q}
        assert {u: q for u, q in served.items() if q} == ledger.cardano_amounts(wallet)
        naive_differs |= {u: q for u, q in naive.items() if q} != ledger.cardano_amounts(wallet)
    assert naive_differs, "the ledger should contain collateral/reference inputs that change the sum"


def test_ledger_has_failed_script_and_unspent_collateral(ledger: Ledger) -> None:
    """The Cardano traps exist: invalid script txs and valid ones declaring unconsumed collateral."""
    txs = ledger.cardano.txs
    assert any(not tx.valid for tx in txs)
    assert any(tx.valid and any(i.collateral for i in tx.inputs) for tx in txs)
    assert any(any(i.reference for i in tx.inputs) for tx in txs)


def test_paging_returns_each_transaction_once(handler: Blockfrost, ledger: Ledger) -> None:
    """count/page in both orders, and from/to windows, cover the 250-tx wallet exactly once."""
    wallet = ledger.cardano_wallets[-1]
    asc = _history(handler, wallet, count=100)
    desc = _history(handler, wallet, count=100, order="desc")
    assert len(asc) == len({e["tx_hash"] for e in asc}) == 250
    assert desc == asc[::-1]
    positions = [(e["block_height"], e["tx_index"]) for e in asc]
    assert positions == sorted(positions)
    mid = asc[120]
    after = _history(handler, wallet, count=100, **{"from": f"{mid['block_height']}:{mid['tx_index']}"})
    assert after == asc[120:]
    upto = _history(handler, wallet, count=100, to=str(mid["block_height"]))
    assert upto == [e for e in asc if e["block_height"] <= mid["block_height"]]
    assert get(handler, f"/addresses/{wallet}/transactions", page=99).json() == []


def test_errors_have_the_real_bodies(ledger: Ledger, real_responses: Path) -> None:
    """400/403/404 bodies are the spec's; unknown addresses 404; the project id is enforced."""
    handler = Blockfrost(ledger.cardano, project_id="mainnetSECRET")
    forbidden = handler.handle(SimRequest("GET", "/blocks/latest"))
    assert forbidden.status == 403
    assert forbidden.json() == load(real_responses, "blockfrost/error_403_invalid_token_1.json")
    ok = handler.handle(SimRequest("GET", "/blocks/latest", headers={"project_id": "mainnetSECRET"}))
    assert ok.status == 200
    open_handler = Blockfrost(ledger.cardano)
    missing = get(open_handler, "/txs/" + "ab" * 32)
    assert missing.status == 404
    assert missing.json() == load(real_responses, "blockfrost/spec_assembled/error_404.json")
    bad = get(open_handler, f"/addresses/{ledger.cardano_wallets[0]}/transactions", count=101)
    assert bad.status == 400
    assert_same_shape(bad.json(), load(real_responses, "blockfrost/spec_assembled/error_400.json"))
    assert get(open_handler, "/addresses/addr1notreal").status == 400
    unseen = ledger.cardano_wallets[0][:-8] + "qqqqqqqq"
    assert get(open_handler, f"/addresses/{unseen}").status == 400  # checksum broken
    rate = open_handler.rate_limited(3)
    assert rate.status == 429
    assert ("retry-after", "3") in rate.headers
    assert rate.json() == load(real_responses, "blockfrost/spec_assembled/error_429.json")
    assert open_handler.server_error(500).json() == load(
        real_responses, "blockfrost/spec_assembled/error_500.json"
    )
