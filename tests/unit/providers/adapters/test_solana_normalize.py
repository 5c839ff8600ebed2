"""`normalize_solana_tx` against real getTransaction responses, read in place from the shared folder."""

from __future__ import annotations

import copy
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from walletsync.config import Chain
from walletsync.providers.errors import MalformedResponseError, RpcError, UpstreamBadRequestError
from walletsync.providers.solana import TransactionNotFoundError, normalize_solana_tx
from walletsync.providers.solana_parse import decode_wire_transaction
from walletsync.providers.types import NATIVE, BalanceDelta

if TYPE_CHECKING:
    from .conftest import ReadResponse

SOLANA = Path(__file__).resolve().parents[5] / "shared" / "real-responses" / "solana"
TX_FILES = sorted(p.name for p in SOLANA.glob("getTransaction_*.json") if "null_result" not in p.name)


def d(owner: str, asset: str, amount: int) -> BalanceDelta:
    return BalanceDelta(owner=owner, asset=asset, amount=amount)


def test_sol_transfer_debits_amount_plus_fee_and_credits_amount(read_response: ReadResponse) -> None:
    """A 0.1 SOL devnet transfer: the sender loses 0.1 SOL + the fee, the receiver gains 0.1 SOL."""
    tx = normalize_solana_tx(read_response("solana/getTransaction_json_sol_transfer_devnet_1.json"))

    assert tx.chain is Chain.SOLANA
    assert (
        tx.tx_id == "2qfNzGs15dt999rt1AUJ7D1oPQaukMPPmHR2u5ZmDo4cVtr1Pr2Dax4Jo7ryTpM8jxjtXLi5NHy4uyr68MVh5my6"
    )
    assert (tx.height, tx.fee, tx.success) == (353101424, 5000, True)
    assert tx.block_time == datetime(2025, 1, 10, 9, 10, 42, tzinfo=UTC)
    assert tx.deltas == (
        d("BLw3RweJmfbTapJRgnPRvd962YDjFYAnVGd1p5hmZ5tP", NATIVE, -(100_000_000 + 5000)),
        d("FDUGdV6bjhvw5gbirXCvqbTSWK9999kcrZcrHoCQzXJK", NATIVE, 100_000_000),
    )


def test_spl_transfer_moves_tokens_between_owners_and_charges_fee(read_response: ReadResponse) -> None:
    """0.01 devnet USDC (6 decimals): owner-level token deltas, the fee payer's lamports down by the fee."""
    tx = normalize_solana_tx(read_response("solana/getTransaction_json_spl_transfer_devnet_1.json"))

    usdc = "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU"
    assert tx.deltas == (
        d("BLw3RweJmfbTapJRgnPRvd962YDjFYAnVGd1p5hmZ5tP", usdc, 7_649_876 - 7_659_876),
        d("BLw3RweJmfbTapJRgnPRvd962YDjFYAnVGd1p5hmZ5tP", NATIVE, -5000),
        d("BXT1K8kzYXWMi6ihg7m9UqiHW4iJbJ69zumELHE9oBLe", usdc, 70_000 - 60_000),
    )


def test_token_send_that_creates_the_receiver_account_pays_rent(read_response: ReadResponse) -> None:
    """Mainnet send with ATA creation: the sender pays fee + the new account's rent, which the account holds."""
    tx = normalize_solana_tx(
        read_response("solana/getTransaction_json_spl_transfer_create_ata_mainnet_1.json")
    )

    mint = "HeLp6NuQkmYB4pYWo2zYs22mESHXPQYzXbB8n4V98jwC"
    sender, new_account = (
        "EMmTjuHsYCYX7vgPcQ2QVbNwYAwcvGoSMCEaHKc19DdE",
        "5k4KRS1HVR5DaQhPzY3P9mRBw1k3TK7fug23utRcqgk1",
    )
    rent = 2_074_080
    assert tx.fee == 5222
    assert tx.deltas == (
        d(new_account, NATIVE, rent),
        # The receiver had no token account before: its missing pre balance counts as 0.
        d("BYh4CfuGDvFMKaZp3RPmkw9y6qg3sWukA2TiGJDeLKZi", mint, 10_000_000),
        d(sender, mint, -10_000_000),
        d(sender, NATIVE, -(5222 + rent)),
    )


@pytest.mark.parametrize(
    ("name", "payer", "fee"),
    [
        (
            "getTransaction_json_failed_insufficient_funds_for_rent_mainnet_1.json",
            "FLiPgGTXtBtEJoytikaywvWgbz5a56DdHKZU72HSYMFF",
            5000,
        ),
        ("getTransaction_json_failed_swap_1.json", "8A4AptCThfbuknsbteHgGKXczfJpfjuVA9SLTSGaaLGC", 520451),
        ("getTransaction_json_failed_swap_mainnet_2.json", None, 5146),
    ],
)
def test_failed_tx_only_charges_the_fee(
    read_response: ReadResponse, name: str, payer: str | None, fee: int
) -> None:
    """A failed transaction is not successful and its only delta is the payer's fee, token balances untouched."""
    raw = read_response(f"solana/{name}")
    tx = normalize_solana_tx(raw)

    assert tx.success is False
    assert tx.fee == fee
    expected_payer = payer or raw["transaction"]["message"]["accountKeys"][0]
    assert tx.deltas == (d(expected_payer, NATIVE, -fee),)


def test_v0_loaded_addresses_extend_account_keys(read_response: ReadResponse) -> None:
    """A v0 json tx: balances of loadedAddresses (writable, then readonly) follow the static keys."""
    raw = read_response("solana/getTransaction_json_swap_sol_usdc_1.json")
    static = raw["transaction"]["message"]["accountKeys"]
    loaded = raw["meta"]["loadedAddresses"]
    keys = [*static, *loaded["writable"], *loaded["readonly"]]
    pre, post = raw["meta"]["preBalances"], raw["meta"]["postBalances"]
    expected = {keys[i]: post[i] - pre[i] for i in range(len(keys)) if post[i] != pre[i]}

    tx = normalize_solana_tx(raw)

    assert {x.owner: x.amount for x in tx.deltas if x.asset == NATIVE} == expected
    assert any(keys.index(owner) >= len(static) for owner in expected), "a looked-up account changed"


def test_keys_already_merged_with_loaded_addresses_are_not_appended_twice(
    read_response: ReadResponse,
) -> None:
    """A captured response whose accountKeys already end with its loadedAddresses still lines up with balances."""
    raw = read_response("solana/getTransaction_json_swap_multi_hop_mainnet_1.json")
    assert len(raw["transaction"]["message"]["accountKeys"]) == len(raw["meta"]["preBalances"])

    tx = normalize_solana_tx(raw)

    assert d("7CoLodcm9h4EAFKpcPbT34yk3MkpeWjsBqXVidfbrfQ7", NATIVE, -28168) in tx.deltas
    assert d("FQT9SSwEZ6UUQxsmTzgt5JzjrS4M5zm13M1QiYF8TEo6", NATIVE, 5826) in tx.deltas


def test_base64_transaction_gives_the_same_result_as_json(read_response: ReadResponse) -> None:
    """The same devnet tx fetched as json and as base64 normalizes identically (signature and keys decoded)."""
    as_json = normalize_solana_tx(read_response("solana/getTransaction_json_legacy_devnet_1.json"))
    as_base64 = normalize_solana_tx(read_response("solana/getTransaction_base64_legacy_devnet_1.json"))

    assert as_base64 == as_json
    assert as_base64.tx_id.startswith("4Dj8Xbs7L6z7")


def test_base64_v0_with_loaded_addresses(read_response: ReadResponse) -> None:
    """A base64 v0 tx: 3 static keys decoded + 5 loaded = 8 balances; two self-transfers net out to the fee."""
    raw = read_response("solana/getTransaction_base64_v0_loadedAddresses_1.json")
    signature, static = decode_wire_transaction(*raw["result"]["transaction"])
    assert len(static) + 5 == len(raw["result"]["meta"]["preBalances"])

    tx = normalize_solana_tx(raw)

    assert tx.tx_id == signature
    # The owner moved 1 unit of each mint between two of its own token accounts: no owner-level change.
    assert tx.deltas == (d("RNfp4xTbBb4C3kcv2KqtAj8mu4YhMHxqm1Skg9uchZ7", NATIVE, -5000),)


def test_jsonparsed_burn_is_a_token_delta_without_counterpart(read_response: ReadResponse) -> None:
    """Mainnet approve + burn (jsonParsed): the burned amount leaves the owner and goes to nobody."""
    tx = normalize_solana_tx(
        read_response("solana/getTransaction_jsonParsed_spl_approve_burn_mainnet_1.json")
    )

    owner, mint = (
        "G7Hf2J55BAkHtbbXPh94UTGRCQioKPpnb5oKQMBteXo",
        "E942z7FnS7GpswTvF5Vggvo7cMTbvZojjLbFgsrDVff1",
    )
    assert (tx.fee, tx.height) == (10_000, 146099091)
    assert tx.deltas == (d(owner, mint, -47_444_666), d(owner, NATIVE, 72_226_420 - 74_714_380))
    assert sum(x.amount for x in tx.deltas if x.asset == mint) == -47_444_666


@pytest.mark.parametrize(
    "name",
    [
        "getTransaction_jsonParsed_v0_swap_1.json",
        "getTransaction_jsonParsed_v0_swap_2.json",
        "getTransaction_jsonParsed_v0_swap_3.json",
        "getTransaction_json_swap_trump_jup_full_envelope_1.json",
        "getTransaction_json_swap_usdc_jup_mainnet_1.json",
    ],
)
def test_swaps_conserve_every_token_mint(read_response: ReadResponse, name: str) -> None:
    """In swaps that mint, burn and wrap nothing, each mint's deltas across owners sum to zero."""
    tx = normalize_solana_tx(read_response(f"solana/{name}"))
    per_mint: Counter[str] = Counter()
    for x in tx.deltas:
        if x.asset != NATIVE:
            per_mint[x.asset] += x.amount

    assert len(per_mint) >= 2
    assert all(total == 0 for total in per_mint.values())


def test_envelope_and_result_normalize_the_same(read_response: ReadResponse) -> None:
    """A whole JSON-RPC envelope is accepted and gives what its `result` gives."""
    envelope = read_response("solana/getTransaction_json_create_ata_full_envelope_1.json")
    assert normalize_solana_tx(envelope) == normalize_solana_tx(envelope["result"])


def test_token_balance_without_owner_falls_back_to_the_token_account(read_response: ReadResponse) -> None:
    """Token balances from before the RPC reported owners are attributed to the token account itself."""
    raw = copy.deepcopy(read_response("solana/getTransaction_json_spl_transfer_devnet_1.json"))
    for entry in raw["meta"]["preTokenBalances"] + raw["meta"]["postTokenBalances"]:
        del entry["owner"]
    keys = raw["transaction"]["message"]["accountKeys"]

    tx = normalize_solana_tx(raw)

    usdc = "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU"
    assert d(keys[1], usdc, 10_000) in tx.deltas
    assert d(keys[2], usdc, -10_000) in tx.deltas


def test_null_result_is_a_retryable_not_found(read_response: ReadResponse) -> None:
    """`result: null` (unknown signature) raises TransactionNotFoundError, never an empty transaction."""
    with pytest.raises(TransactionNotFoundError) as caught:
        normalize_solana_tx(read_response("solana/getTransaction_null_result_1.json"))
    assert caught.value.retryable is True


@pytest.mark.parametrize(
    ("name", "error_type"),
    [
        ("error_-32602_invalid_params_1.json", UpstreamBadRequestError),
        ("error_-32015_version_not_supported_1.json", RpcError),
    ],
)
def test_error_envelope_raises_the_mapped_error(
    read_response: ReadResponse, name: str, error_type: type
) -> None:
    """An error envelope given to the normalizer raises its typed error."""
    with pytest.raises(error_type):
        normalize_solana_tx(read_response(f"solana/{name}"))


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda r: r.__setitem__("meta", None), id="meta-null"),
        pytest.param(lambda r: r["meta"]["postBalances"].pop(), id="balances-length-mismatch"),
        pytest.param(lambda r: r["transaction"]["message"]["accountKeys"].pop(), id="keys-balances-mismatch"),
        pytest.param(
            lambda r: r["meta"]["postTokenBalances"][0]["uiTokenAmount"].__setitem__("amount", "x"),
            id="amount",
        ),
        pytest.param(lambda r: r.__setitem__("transaction", ["!!!", "base64"]), id="bad-base64"),
        pytest.param(lambda r: r.__setitem__("transaction", ["AA==", "base64+zstd"]), id="bad-encoding"),
    ],
)
def test_wrong_shapes_raise_malformed(read_response: ReadResponse, mutate: Any) -> None:
    """Any shape the normalizer cannot read is a MalformedResponseError, never a KeyError or a wrong result."""
    raw = copy.deepcopy(read_response("solana/getTransaction_json_spl_transfer_devnet_1.json"))
    mutate(raw)
    with pytest.raises(MalformedResponseError):
        normalize_solana_tx(raw)


# --- invariants over every real getTransaction response --------------------------------------------

# Lamports are conserved except for the fee in every response whose accounts are all listed. Known
# exceptions, asserted as such: the SDK mock of the approve/burn tx lists only 1 of its accounts, and
# the wormhole-dashboard swaps were recorded on a local validator with cloned accounts and are off by
# a few lamports (+10, -40, +60).
LAMPORT_RESIDUAL = {
    "getTransaction_jsonParsed_spl_approve_burn_mainnet_1.json": (72_226_420 - 74_714_380) + 10_000,
    "getTransaction_jsonParsed_v0_swap_1.json": 10,
    "getTransaction_jsonParsed_v0_swap_2.json": -40,
    "getTransaction_jsonParsed_v0_swap_3.json": 60,
}


def test_every_transaction_file_is_covered() -> None:
    """The invariant tests below really see the shared files (json, jsonParsed and base64 ones)."""
    if not SOLANA.is_dir():
        pytest.skip("real responses absent")
    assert len(TX_FILES) >= 30
    assert {n.split("_")[1] for n in TX_FILES} == {"json", "jsonParsed", "base64"}


@pytest.mark.parametrize("name", TX_FILES)
def test_invariants_hold_for_every_real_transaction(read_response: ReadResponse, name: str) -> None:
    """Deltas are non-zero, unique per (owner, asset), sorted, and lamports sum to -fee (known exceptions aside)."""
    raw = read_response(f"solana/{name}")
    result = raw.get("result", raw)
    tx = normalize_solana_tx(raw)

    keys = [(x.owner, x.asset) for x in tx.deltas]
    assert all(x.amount != 0 for x in tx.deltas)
    assert len(keys) == len(set(keys))
    assert keys == sorted(keys)
    lamports = sum(x.amount for x in tx.deltas if x.asset == NATIVE)
    assert lamports == -tx.fee + LAMPORT_RESIDUAL.get(name, 0)
    assert lamports == sum(result["meta"]["postBalances"]) - sum(result["meta"]["preBalances"])
    assert tx.success is (result["meta"]["err"] is None)
    assert tx.height == result["slot"]
