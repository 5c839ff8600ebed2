"""Amounts of the wrong type in real provider bodies are refused, naming the transaction and field.

Blockfrost quantities are strings of decimal digits; Solana lamport balances are JSON integers within
u64. `int()` would read `12.5` as 12, `True` as 1 and `1.5e30` as a 31-digit number: stored, that is
a wrong balance forever.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import pytest

from walletsync.providers.cardano import normalize_cardano_tx
from walletsync.providers.errors import MalformedResponseError
from walletsync.providers.solana import normalize_solana_tx

if TYPE_CHECKING:
    from .conftest import ReadResponse

SOLANA_TX = "solana/getTransaction_json_sol_transfer_devnet_1.json"


def _solana(read_response: ReadResponse) -> dict[str, Any]:
    body = read_response(SOLANA_TX)
    return copy.deepcopy(body["result"] if "jsonrpc" in body else body)


@pytest.mark.parametrize("wrong", [True, False, 1.5e30, 12.5, 1.0, -1, 2**64, "5000", None])
@pytest.mark.parametrize("field", ["preBalances", "postBalances"])
def test_solana_balance_of_the_wrong_type_names_transaction_and_field(
    read_response: ReadResponse, field: str, wrong: Any
) -> None:
    result = _solana(read_response)
    result["meta"][field][1] = wrong
    signature = result["transaction"]["signatures"][0]
    with pytest.raises(MalformedResponseError) as caught:
        normalize_solana_tx(result)
    message = str(caught.value)
    assert message.startswith(
        f"solana: transaction {signature}: meta.{field}[1] must be an integer within u64"
    )
    assert "\n" not in message


def test_solana_u64_bounds_are_inclusive(read_response: ReadResponse) -> None:
    """0 and 2**64 - 1 are valid lamport amounts (the chain's own range)."""
    result = _solana(read_response)
    result["meta"]["preBalances"][1] = 2**64 - 1
    result["meta"]["postBalances"][1] = 0
    tx = normalize_solana_tx(result)
    key = result["transaction"]["message"]["accountKeys"][1]
    assert next(d.amount for d in tx.deltas if d.owner == key) == -(2**64 - 1)


@pytest.mark.parametrize("wrong", [12, 12.5, "12.5", "-3", "1e6", "", " 12", True])
def test_solana_token_amount_must_be_a_digit_string(read_response: ReadResponse, wrong: Any) -> None:
    result = copy.deepcopy(read_response("solana/getTransaction_json_spl_transfer_devnet_1.json"))
    result = result.get("result", result)
    result["meta"]["postTokenBalances"][0]["uiTokenAmount"]["amount"] = wrong
    with pytest.raises(
        MalformedResponseError, match=r"meta\.postTokenBalances\[0\]\.uiTokenAmount\.amount must be"
    ):
        normalize_solana_tx(result)


@pytest.mark.parametrize("wrong", [12.5, 12, True, "12.5", "-3", "1e6", "", None, str(2**64)])
def test_blockfrost_quantity_of_the_wrong_type_names_transaction_and_field(
    read_response: ReadResponse, wrong: Any
) -> None:
    tx = copy.deepcopy(read_response("blockfrost/spec_assembled/txs.json"))
    utxos = copy.deepcopy(read_response("blockfrost/spec_assembled/txs_utxos.json"))
    utxos["outputs"][0]["amount"][0]["quantity"] = wrong
    tx_id = utxos.get("hash") or tx["hash"]
    with pytest.raises(MalformedResponseError) as caught:
        normalize_cardano_tx(tx, utxos)
    assert str(caught.value) == (
        f"blockfrost: transaction {tx_id}: outputs[0].amount[0].quantity must be a string of decimal "
        f"digits within u64, got {wrong!r}"
    )


def test_blockfrost_fees_must_be_a_digit_string(read_response: ReadResponse) -> None:
    tx = copy.deepcopy(read_response("blockfrost/spec_assembled/txs.json"))
    utxos = copy.deepcopy(read_response("blockfrost/spec_assembled/txs_utxos.json"))
    tx["fees"] = 182485.5
    with pytest.raises(MalformedResponseError, match=r"fees must be a string of decimal digits"):
        normalize_cardano_tx(tx, utxos)
