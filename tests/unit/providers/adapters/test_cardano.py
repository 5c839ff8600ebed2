"""`normalize_cardano_tx` and `CardanoAdapter` against real Blockfrost bodies (spec examples, live fixtures)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from walletsync.config import Chain
from walletsync.providers import cardano
from walletsync.providers.cardano import CardanoAdapter, normalize_cardano_tx
from walletsync.providers.errors import (
    MalformedResponseError,
    ProviderAuthError,
    UpstreamNotFoundError,
)
from walletsync.providers.types import NATIVE, BalanceDelta, HeldAsset

if TYPE_CHECKING:
    from .conftest import MakeTransport, ReadResponse

NUTCOIN = "b0d07d45fe9514f80213f4020e5a61241458be626841cde717cb38a76e7574636f696e"


def d(owner: str, asset: str, amount: int) -> BalanceDelta:
    return BalanceDelta(owner=owner, asset=asset, amount=amount)


def test_spec_example_pair_spends_and_recreates_the_same_value(read_response: ReadResponse) -> None:
    """The spec's /txs and /txs/utxos examples (same hash): one input and one output of equal value, no net delta."""
    tx = read_response("blockfrost/spec_assembled/txs.json")
    utxos = read_response("blockfrost/spec_assembled/txs_utxos.json")
    assert tx["hash"] == utxos["hash"]

    normalized = normalize_cardano_tx(tx, utxos)

    assert normalized.chain is Chain.CARDANO
    assert normalized.tx_id == "1e043f100dce12d107f679685acd2fc0610e10f72a92d412794c9773d11d8477"
    assert (normalized.height, normalized.fee, normalized.success) == (123456, 182485, True)
    assert normalized.block_time == datetime.fromtimestamp(1635505891, tz=UTC)
    assert normalized.deltas == ()  # 42 ADA + 12 nutcoin in, the same out: zero sums are dropped


def test_spec_example_with_a_changed_output_gives_signed_deltas(read_response: ReadResponse) -> None:
    """Paying part of the spec example's input to another address: the sender loses exactly what moved."""
    tx = read_response("blockfrost/spec_assembled/txs.json")
    utxos = copy.deepcopy(read_response("blockfrost/spec_assembled/txs_utxos.json"))
    sender = utxos["inputs"][0]["address"]
    change = utxos["outputs"][0]
    change["amount"] = [{"unit": "lovelace", "quantity": str(42_000_000 - 10_000_000 - 182_485)}]
    utxos["outputs"].append(
        {
            "address": "addr1receiver",
            "amount": [{"unit": "lovelace", "quantity": "10000000"}, {"unit": NUTCOIN, "quantity": "12"}],
            "output_index": 1,
            "collateral": False,
        }
    )

    deltas = normalize_cardano_tx(tx, utxos).deltas

    assert deltas == (  # sorted by (owner, asset): "addr1q9..." < "addr1receiver"
        d(sender, NUTCOIN, -12),
        d(sender, NATIVE, -(10_000_000 + 182_485)),
        d("addr1receiver", NUTCOIN, 12),
        d("addr1receiver", NATIVE, 10_000_000),
    )


def test_live_utxos_without_inputs_credit_the_output(read_response: ReadResponse) -> None:
    """Mainnet tx 927edb96… has no inputs (a genesis redemption): its single Byron output is a pure credit."""
    utxos = read_response("blockfrost/live_txsUtxos_927edb96f3.json")
    tx = {"hash": utxos["hash"], "block_height": 1, "block_time": 1506203091, "fees": "0"}

    normalized = normalize_cardano_tx(tx, utxos)

    assert normalized.deltas == (
        d("Ae2tdPwUPEZ9vtyppa1FdJzvqJZkEcXgdHxVYAzTWcPaoNycVq5rc36LC1S", NATIVE, 538_861_000_000),
    )


def test_live_tx_body_without_hash_or_time_uses_the_utxos_hash(read_response: ReadResponse) -> None:
    """The live /txs subset has no hash/block_time: the id comes from /utxos, time is None, fees parse."""
    tx = read_response("blockfrost/live_txs_28172ea876.json")
    utxos = {
        "hash": "28172ea876c3d1e691284e5179fae2feb3e69d7d41e43f8023dc380115741026",
        "inputs": [],
        "outputs": [],
    }

    normalized = normalize_cardano_tx(tx, utxos)

    assert (normalized.tx_id, normalized.height, normalized.fee) == (utxos["hash"], 5040611, 874_781)
    assert normalized.block_time is None
    assert normalized.success is True


def test_mismatched_pair_is_rejected(read_response: ReadResponse) -> None:
    """A /txs body and a /utxos body of different transactions are not combined."""
    with pytest.raises(MalformedResponseError, match=r"/txs is .* but /utxos is"):
        normalize_cardano_tx(
            read_response("blockfrost/spec_assembled/txs.json"),
            read_response("blockfrost/live_txsUtxos_927edb96f3.json"),
        )


# A script transaction in the spec's field names: a regular input and a collateral input of the payer,
# a reference input of someone else, a payment output, a change output and a collateral-return output.
PAYER, SHOP, ORACLE = "addr1payer", "addr1shop", "addr1oracle"


def script_tx(valid: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    def utxo(address: str, lovelace: int, **flags: bool) -> dict[str, Any]:
        return {
            "address": address,
            "amount": [{"unit": "lovelace", "quantity": str(lovelace)}],
            "tx_hash": "00" * 32,
            "output_index": 0,
            "collateral": flags.get("collateral", False),
            "reference": flags.get("reference", False),
        }

    tx = {
        "hash": "ab" * 32,
        "block_height": 10,
        "block_time": 1700000000,
        "fees": "300000",
        "valid_contract": valid,
    }
    utxos = {
        "hash": "ab" * 32,
        "inputs": [
            utxo(PAYER, 100_000_000),
            utxo(PAYER, 5_000_000, collateral=True),
            utxo(ORACLE, 2_000_000, reference=True),
        ],
        "outputs": [
            utxo(SHOP, 30_000_000),
            utxo(PAYER, 100_000_000 - 30_000_000 - 300_000),
            utxo(PAYER, 5_000_000 - 450_000, collateral=True),
        ],
    }
    return tx, utxos


def test_valid_script_tx_ignores_collateral_and_reference_inputs() -> None:
    """valid_contract: regular inputs/outputs count; collateral and reference inputs are not spent."""
    normalized = normalize_cardano_tx(*script_tx(valid=True))

    assert normalized.success is True
    assert normalized.deltas == (d(PAYER, NATIVE, -30_300_000), d(SHOP, NATIVE, 30_000_000))


def test_failed_script_tx_spends_only_collateral() -> None:
    """valid_contract false: only the collateral is spent and only its return is created; nothing reaches the shop."""
    normalized = normalize_cardano_tx(*script_tx(valid=False))

    assert normalized.success is False
    assert normalized.deltas == (d(PAYER, NATIVE, -450_000),)


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda tx, u: tx.pop("fees"), id="no-fees"),
        pytest.param(
            lambda tx, u: u["inputs"][0]["amount"][0].__setitem__("quantity", "4.2"), id="bad-quantity"
        ),
        pytest.param(lambda tx, u: u.pop("outputs"), id="no-outputs"),
    ],
)
def test_wrong_shapes_raise_malformed(read_response: ReadResponse, mutate: Any) -> None:
    """Any shape the normalizer cannot read is a MalformedResponseError."""
    tx = copy.deepcopy(read_response("blockfrost/spec_assembled/txs.json"))
    utxos = copy.deepcopy(read_response("blockfrost/spec_assembled/txs_utxos.json"))
    mutate(tx, utxos)
    with pytest.raises(MalformedResponseError):
        normalize_cardano_tx(tx, utxos)


# --- CardanoAdapter over a mock Blockfrost ------------------------------------------------------------


def blockfrost(routes: dict[str, Any], seen: list[httpx.Request] | None = None) -> Any:
    """A handler answering GET paths from `routes` (a body, or (status, body)); 404 body otherwise."""

    def handle(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        answer = routes.get(request.url.path)
        if answer is None:
            body = {
                "status_code": 404,
                "error": "Not Found",
                "message": "The requested component has not been found.",
            }
            return httpx.Response(404, json=body)
        status, body = answer if isinstance(answer, tuple) else (200, answer)
        return httpx.Response(status, json=body)

    return handle


async def test_transactions_page_sends_from_and_drops_the_inclusive_entry(
    make_transport: MakeTransport, read_response: ReadResponse
) -> None:
    """`after=(4547, 9)` sends order=asc and from=4547:9, and the entry at exactly (4547, 9) is dropped."""
    seen: list[httpx.Request] = []
    page = read_response("blockfrost/spec_example_addresses_transactions.json")
    transport = make_transport(
        blockfrost({"/addresses/addr1x/transactions": page}, seen), cardano.classify_error
    )

    refs = await CardanoAdapter(transport).transactions_page("addr1x", after=(4547, 9), count=50)

    assert dict(seen[0].url.params) == {"order": "asc", "count": "50", "from": "4547:9"}
    assert [(r.tx_id[:8], r.height, r.index) for r in refs] == [("e8073fd5", 564654, 0)]
    assert refs[0].block_time == datetime.fromtimestamp(1834505492, tz=UTC)


async def test_first_page_and_never_used_address(
    make_transport: MakeTransport, read_response: ReadResponse
) -> None:
    """Without `after` every entry is returned oldest first; a 404 address has no transactions."""
    page = read_response("blockfrost/spec_example_addresses_transactions.json")
    transport = make_transport(blockfrost({"/addresses/addr1x/transactions": page}), cardano.classify_error)
    adapter = CardanoAdapter(transport)

    refs = await adapter.transactions_page("addr1x")

    assert [(r.height, r.index) for r in refs] == [(69, 6), (4547, 9), (564654, 0)]
    assert "from" not in (transport.calls[0].params or {})
    assert await adapter.transactions_page("addr1unused") == []


async def test_transaction_fetches_body_and_utxos(
    make_transport: MakeTransport, read_response: ReadResponse
) -> None:
    """`transaction(hash)` GETs /txs/{hash} and /txs/{hash}/utxos and normalizes the pair."""
    tx = read_response("blockfrost/spec_assembled/txs.json")
    utxos = read_response("blockfrost/spec_assembled/txs_utxos.json")
    routes = {f"/txs/{tx['hash']}": tx, f"/txs/{tx['hash']}/utxos": utxos}
    transport = make_transport(blockfrost(routes), cardano.classify_error)

    normalized = await CardanoAdapter(transport).transaction(tx["hash"])

    assert normalized.tx_id == tx["hash"]
    assert sorted(c.path for c in transport.calls) == sorted(routes)


async def test_address_amounts(make_transport: MakeTransport, read_response: ReadResponse) -> None:
    """Holdings with lovelace as native and quantities as ints; a never-used address holds nothing."""
    body = read_response("blockfrost/spec_assembled/addresses_address.json")
    transport = make_transport(blockfrost({f"/addresses/{body['address']}": body}), cardano.classify_error)
    adapter = CardanoAdapter(transport)

    assert await adapter.address_amounts(body["address"]) == [
        HeldAsset(NATIVE, 42_000_000),
        HeldAsset(NUTCOIN, 12),
    ]
    assert await adapter.address_amounts("addr1unused") == []


async def test_asset_metadata_and_cache(make_transport: MakeTransport, read_response: ReadResponse) -> None:
    """Registry metadata gives name, ticker and decimals; the call asks the client to cache it."""
    body = read_response("blockfrost/spec_assembled/assets_asset.json")
    transport = make_transport(blockfrost({f"/assets/{NUTCOIN}": body}), cardano.classify_error)

    info = await CardanoAdapter(transport, metadata_cache_ttl_s=120).asset(NUTCOIN)

    assert (info.asset_key, info.name, info.symbol, info.decimals) == (NUTCOIN, "nutcoin", "nutc", 6)
    assert info.metadata["policy_id"] == "b0d07d45fe9514f80213f4020e5a61241458be626841cde717cb38a7"
    assert transport.calls[0].cache_ttl_s == 120


async def test_asset_without_registry_metadata(
    make_transport: MakeTransport, read_response: ReadResponse
) -> None:
    """An NFT with `metadata: null`: decimals None, name from the on-chain (CIP-25) metadata."""
    body = read_response("blockfrost/live_assetsById_b863bc7369.json")
    transport = make_transport(blockfrost({f"/assets/{body['asset']}": body}), cardano.classify_error)

    info = await CardanoAdapter(transport).asset(body["asset"])

    assert (info.name, info.symbol, info.decimals) == ("Berry Sapphire", None, None)


async def test_native_asset_needs_no_call(make_transport: MakeTransport) -> None:
    """ADA (`native` or `lovelace`) has 6 decimals and is answered locally."""
    transport = make_transport(blockfrost({}), cardano.classify_error)
    adapter = CardanoAdapter(transport)
    assert (await adapter.asset(NATIVE)).decimals == 6
    assert (await adapter.asset("lovelace")).symbol == "ADA"
    assert transport.calls == []


async def test_tip_height(make_transport: MakeTransport, read_response: ReadResponse) -> None:
    """`/blocks/latest` gives the tip height."""
    body = read_response("blockfrost/spec_assembled/blocks_latest.json")
    transport = make_transport(blockfrost({"/blocks/latest": body}), cardano.classify_error)
    assert await CardanoAdapter(transport).tip_height() == 15_243_593


async def test_account_addresses_follow_pages(make_transport: MakeTransport) -> None:
    """All pages of /accounts/{stake}/addresses are read until a short page; an unknown stake key has none."""
    full = [{"address": f"addr1q{i:03d}"} for i in range(100)]

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path != "/accounts/stake1u1/addresses":
            return httpx.Response(404, json={"status_code": 404, "error": "Not Found", "message": "missing"})
        page = int(request.url.params["page"])
        return httpx.Response(200, json=full if page == 1 else [{"address": "addr1qlast"}])

    adapter = CardanoAdapter(make_transport(handle, cardano.classify_error))

    addresses = await adapter.account_addresses("stake1u1")

    assert len(addresses) == 101
    assert addresses[-1] == "addr1qlast"
    assert await adapter.account_addresses("stake1unknown") == []


async def test_auth_error_surfaces(make_transport: MakeTransport, read_response: ReadResponse) -> None:
    """A 403 (invalid project token) is raised as ProviderAuthError, not swallowed like a 404."""
    body = read_response("blockfrost/error_403_invalid_token_1.json")
    transport = make_transport(blockfrost({"/addresses/addr1x": (403, body)}), cardano.classify_error)
    with pytest.raises(ProviderAuthError):
        await CardanoAdapter(transport).address_amounts("addr1x")


async def test_unknown_transaction_is_not_found(make_transport: MakeTransport) -> None:
    """A 404 for /txs/{hash} propagates as UpstreamNotFoundError."""
    transport = make_transport(blockfrost({}), cardano.classify_error)
    with pytest.raises(UpstreamNotFoundError):
        await CardanoAdapter(transport).transaction("ff" * 32)
