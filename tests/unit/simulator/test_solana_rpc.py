"""The simulated Solana JSON-RPC: real shapes, ground truth from served bodies, paging, errors."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from walletsync.config import Chain
from walletsync.simulator.ledger import Ledger
from walletsync.simulator.solana_records import LEGACY, SPL_TRANSFER, TOKEN_PROGRAM
from walletsync.simulator.solana_rpc import SolanaRpc
from walletsync.simulator.wire import SimRequest

from .shapes import assert_same_shape, load, result, rpc

V0 = {"encoding": "jsonParsed", "maxSupportedTransactionVersion": 0}


@pytest.fixture(scope="module")
def ledger() -> Ledger:
    return Ledger(seed=11, solana_wallets=3, cardano_wallets=0, exact_solana_wallets=(2500,))


@pytest.fixture(scope="module")
def handler(ledger: Ledger) -> SolanaRpc:
    return SolanaRpc(ledger.solana)


def _pick(ledger: Ledger, *, kind: int, version: int, failed: bool = False) -> str:
    for tx in ledger.solana.txs:
        if tx.kind == kind and tx.version == version and tx.failed == failed:
            return tx.signature
    raise AssertionError("the ledger has no such transaction")


def _all_signatures(handler: SolanaRpc, address: str, limit: int = 1000) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    before: str | None = None
    while True:
        config: dict[str, Any] = {"limit": limit}
        if before:
            config["before"] = before
        page = result(handler, "getSignaturesForAddress", address, config)
        entries += page
        if len(page) < limit:
            return entries
        before = page[-1]["signature"]


def test_get_transaction_json_matches_real_v0_spl_transfer(
    handler: SolanaRpc, ledger: Ledger, real_responses: Path
) -> None:
    """A v0 SPL transfer in the json encoding has every key and type of the real devnet one."""
    real = load(real_responses, "solana/getTransaction_json_spl_transfer_devnet_1.json")
    sim = result(
        handler,
        "getTransaction",
        _pick(ledger, kind=SPL_TRANSFER, version=0),
        {"encoding": "json", "maxSupportedTransactionVersion": 0},
    )
    assert_same_shape(sim, real)
    assert sim["version"] == 0
    assert all(isinstance(b, int) for b in sim["meta"]["preBalances"] + sim["meta"]["postBalances"])
    assert isinstance(sim["meta"]["preTokenBalances"][0]["uiTokenAmount"]["amount"], str)


def test_get_transaction_json_legacy_has_no_address_table_lookups(
    handler: SolanaRpc, ledger: Ledger, real_responses: Path
) -> None:
    """A legacy tx matches the real legacy file, including the absent addressTableLookups."""
    real = load(real_responses, "solana/getTransaction_json_spl_transferChecked_legacy_1.json")
    sim = result(
        handler,
        "getTransaction",
        _pick(ledger, kind=SPL_TRANSFER, version=LEGACY),
        {"encoding": "json", "maxSupportedTransactionVersion": 0},
    )
    assert_same_shape(sim, real, skip=frozenset({"$.transaction.message.instructions"}))
    assert "addressTableLookups" not in sim["transaction"]["message"]
    assert sim["version"] == "legacy"


def test_get_transaction_json_parsed_matches_real_v0(
    handler: SolanaRpc, ledger: Ledger, real_responses: Path
) -> None:
    """jsonParsed: accountKeys objects with source, parsed instructions, no loadedAddresses."""
    real = load(real_responses, "solana/getTransaction_jsonParsed_v0_swap_1.json")
    sim = result(handler, "getTransaction", _pick(ledger, kind=SPL_TRANSFER, version=0), V0)
    instructions = frozenset({"$.transaction.message.instructions", "$.meta.innerInstructions"})
    assert_same_shape(sim, real, skip=instructions)
    assert "loadedAddresses" not in sim["meta"]
    transfer = sim["transaction"]["message"]["instructions"][-1]
    assert transfer["program"] == "spl-token"
    assert set(transfer["parsed"]["info"]) == {"amount", "authority", "destination", "source"}
    sol = result(handler, "getTransaction", _pick(ledger, kind=0, version=0), V0)
    real_system = load(real_responses, "solana/getTransaction_jsonParsed_spl_approve_burn_mainnet_1.json")
    assert_same_shape(
        sol["transaction"]["message"]["instructions"][-1],
        real_system["transaction"]["message"]["instructions"][0],
    )


def test_failed_transaction_charges_only_the_fee(handler: SolanaRpc, ledger: Ledger) -> None:
    """A failed tx has meta.err, status Err, and balances that move by the fee alone."""
    for kind in (0, SPL_TRANSFER):
        sig = next(t.signature for t in ledger.solana.txs if t.failed and t.kind == kind)
        tx = result(handler, "getTransaction", sig, V0)
        meta = tx["meta"]
        assert meta["err"] == {"InstructionError": [meta["err"]["InstructionError"][0], {"Custom": 1}]}
        assert meta["status"] == {"Err": meta["err"]}
        deltas = [post - pre for pre, post in zip(meta["preBalances"], meta["postBalances"], strict=True)]
        assert deltas[0] == -meta["fee"]
        assert not any(deltas[1:])
        pre = {b["accountIndex"]: b["uiTokenAmount"]["amount"] for b in meta["preTokenBalances"]}
        post = {b["accountIndex"]: b["uiTokenAmount"]["amount"] for b in meta["postTokenBalances"]}
        assert pre == post


def test_signature_entries_match_real_shape(handler: SolanaRpc, ledger: Ledger, real_responses: Path) -> None:
    """getSignaturesForAddress entries have the real keys; failed ones carry err."""
    real = load(real_responses, "solana/getSignaturesForAddress_1000_mainnet_1.json")
    real_failed = next(e for e in real if e["err"] is not None)
    entries = _all_signatures(handler, ledger.solana_wallets[0])
    assert_same_shape(entries[0], real[0])
    failed = [e for e in entries if e["err"] is not None]
    assert failed, "expected a failed transaction in the wallet's history"
    assert_same_shape(failed[0], real_failed)


def test_get_balance_and_token_accounts_match_real_envelopes(
    handler: SolanaRpc, ledger: Ledger, real_responses: Path
) -> None:
    """getBalance and getTokenAccountsByOwner carry the real envelope shapes."""
    wallet = next(
        w for w in ledger.solana_wallets if ledger.solana_token_accounts(w)
    )  # one with open accounts
    balance = rpc(handler, "getBalance", wallet)
    assert_same_shape(balance, load(real_responses, "solana/getBalance_full_3.json"))
    assert isinstance(balance["result"]["value"], int)
    accounts = result(
        handler, "getTokenAccountsByOwner", wallet, {"programId": TOKEN_PROGRAM}, {"encoding": "jsonParsed"}
    )
    docs = load(real_responses, "solana/getTokenAccountsByOwner_jsonParsed_docs_1.json")
    # the docs example predates the real parser: it says accountType (not type), isInitialized (not
    # state) and shows delegate fields the real RPC omits when unset; the real getAccountInfo file
    # below has the current layout, which the simulator follows
    info = "$.value[].account.data.parsed.info"
    known = frozenset(
        {
            "$.value[].account.data.parsed.accountType",
            f"{info}.delegate",
            f"{info}.delegatedAmount",
            f"{info}.isInitialized",
        }
    )
    assert_same_shape(accounts, docs, skip=known)
    real_account = load(real_responses, "solana/getAccountInfo_jsonParsed_token_account_1.json")["value"]
    assert_same_shape(accounts["value"][0]["account"], real_account)
    token_2022 = {"programId": "TokenzQdBNbLqP5VvEfrQ9Hx8wNemJZbpk3VqWsWLdT"}
    assert (
        result(handler, "getTokenAccountsByOwner", wallet, token_2022, {"encoding": "jsonParsed"})["value"]
        == []
    )


def test_account_info_of_a_mint_gives_decimals(handler: SolanaRpc, ledger: Ledger) -> None:
    """getAccountInfo(mint, jsonParsed) is a parsed mint with its decimals; unknown keys are null."""
    for mint, decimals in ledger.solana_mints.items():
        value = result(handler, "getAccountInfo", mint, {"encoding": "jsonParsed"})["value"]
        assert value["data"]["parsed"]["type"] == "mint"
        assert value["data"]["parsed"]["info"]["decimals"] == decimals
    assert result(handler, "getAccountInfo", "11111111111111111111111111111112")["value"] is None
    assert {d for _, d in ledger.solana_mints.items()} >= {6, 9}


def test_served_transactions_sum_to_served_balances(handler: SolanaRpc, ledger: Ledger) -> None:
    """For every wallet, pre/post balances of its own and its token accounts' txs add up to its balances."""
    for wallet in ledger.solana_wallets:
        token_accounts = result(
            handler,
            "getTokenAccountsByOwner",
            wallet,
            {"programId": TOKEN_PROGRAM},
            {"encoding": "jsonParsed"},
        )["value"]
        owner_sigs = {e["signature"] for e in _all_signatures(handler, wallet)}
        signatures = set(owner_sigs)
        # Closed accounts are not listed by owner; the ledger knows them (and their history stays).
        closed = ledger.solana_token_accounts(wallet, closed=True).values()
        for account in [*(a["pubkey"] for a in token_accounts), *closed]:
            signatures |= {e["signature"] for e in _all_signatures(handler, account)}
        assert signatures == ledger.wallet_tx_ids(Chain.SOLANA, wallet)
        lamports = 0
        tokens: Counter[str] = Counter()
        for sig in signatures:
            tx = result(handler, "getTransaction", sig, V0)
            meta = tx["meta"]
            keys = [k["pubkey"] for k in tx["transaction"]["message"]["accountKeys"]]
            if wallet in keys:
                i = keys.index(wallet)
                lamports += meta["postBalances"][i] - meta["preBalances"][i]
            for side, sign in (("postTokenBalances", 1), ("preTokenBalances", -1)):
                for b in meta[side]:
                    if b["owner"] == wallet:
                        tokens[b["mint"]] += sign * int(b["uiTokenAmount"]["amount"])
        assert lamports == result(handler, "getBalance", wallet)["value"] == ledger.solana_lamports(wallet)
        served = {
            a["account"]["data"]["parsed"]["info"]["mint"]: int(
                a["account"]["data"]["parsed"]["info"]["tokenAmount"]["amount"]
            )
            for a in token_accounts
        }
        ledger_tokens = ledger.solana_token_balances(wallet)
        assert {m: tokens[m] for m in served} == served == {m: ledger_tokens[m] for m in served}
        assert {m: tokens[m] for m in ledger_tokens if m not in served} == {
            m: 0 for m in ledger_tokens if m not in served
        }  # closed accounts were emptied first


def test_incoming_spl_transfer_is_listed_under_the_token_account_only(
    handler: SolanaRpc, ledger: Ledger
) -> None:
    """An SPL transfer into a wallet is not in the owner's signatures, only in its token account's."""
    solana = ledger.solana
    found = 0
    for wallet in ledger.solana_wallets:
        owner = {e["signature"] for e in _all_signatures(handler, wallet)}
        for account in ledger.solana_token_accounts(wallet).values():
            for entry in _all_signatures(handler, account):
                tx = solana.txs[solana.sig_index[entry["signature"]]]
                if solana.accounts[tx.payer] != wallet:
                    assert entry["signature"] not in owner
                    found += 1
    assert found > 0


def test_signature_paging_returns_each_signature_once(handler: SolanaRpc, ledger: Ledger) -> None:
    """before-paging over 2500 signatures yields each once, newest first; until stops at a signature."""
    wallet = ledger.solana_wallets[-1]
    entries = _all_signatures(handler, wallet, limit=1000)
    signatures = [e["signature"] for e in entries]
    assert len(signatures) == len(set(signatures)) > 1000
    everything = set(signatures)
    for account in ledger.solana_token_accounts(wallet).values():
        everything |= {e["signature"] for e in _all_signatures(handler, account, limit=1000)}
    assert len(everything) == 2500 == len(ledger.wallet_tx_ids("solana", wallet))
    assert everything == ledger.wallet_tx_ids("solana", wallet)
    slots = [e["slot"] for e in entries]
    assert slots == sorted(slots, reverse=True)
    small = _all_signatures(handler, wallet, limit=7)
    assert [e["signature"] for e in small] == signatures
    newer = result(handler, "getSignaturesForAddress", wallet, {"until": signatures[10]})
    assert [e["signature"] for e in newer] == signatures[:10]
    window = result(
        handler,
        "getSignaturesForAddress",
        wallet,
        {"before": signatures[5], "until": signatures[9], "limit": 100},
    )
    assert [e["signature"] for e in window] == signatures[6:9]


def test_v0_transaction_without_max_version_is_error_32015(
    handler: SolanaRpc, ledger: Ledger, real_responses: Path
) -> None:
    """A v0 tx requested without maxSupportedTransactionVersion fails like the real API."""
    response = rpc(handler, "getTransaction", _pick(ledger, kind=0, version=0), {"encoding": "json"})
    real = load(real_responses, "solana/error_-32015_version_not_supported_1.json")
    assert_same_shape(response, real)
    assert response["error"]["code"] == -32015
    legacy = result(handler, "getTransaction", _pick(ledger, kind=0, version=LEGACY), "json")
    assert "version" not in legacy


def test_errors_have_the_real_envelope(handler: SolanaRpc, real_responses: Path) -> None:
    """Unknown signature is null; bad params -32602; unknown method -32601; envelopes as real."""
    unknown = "5" * 88
    assert rpc(handler, "getTransaction", unknown, V0)["result"] is None
    bad = rpc(handler, "getBalance", "not-a-key")
    assert_same_shape(bad, load(real_responses, "solana/error_-32602_invalid_params_1.json"))
    assert bad["error"]["code"] == -32602
    assert (
        rpc(handler, "getSignaturesForAddress", "11111111111111111111111111111112", {"limit": 1001})["error"][
            "code"
        ]
        == -32602
    )
    assert rpc(handler, "getBlockHeightz")["error"] == {"code": -32601, "message": "Method not found"}


def test_batch_requests_answer_each_call_in_order(handler: SolanaRpc, ledger: Ledger) -> None:
    """A JSON array of calls gets an array of responses with matching ids, and costs one token per call."""
    wallet = ledger.solana_wallets[0]
    calls = [
        {"jsonrpc": "2.0", "id": i, "method": m, "params": [wallet] if m == "getBalance" else []}
        for i, m in enumerate(["getBalance", "getSlot", "nope"])
    ]
    request = SimRequest("POST", "", body=json.dumps(calls).encode())
    assert handler.cost(request) == 3
    responses = handler.handle(request).json()
    assert [r["id"] for r in responses] == [0, 1, 2]
    assert responses[0]["result"]["value"] == ledger.solana_lamports(wallet)
    assert isinstance(responses[1]["result"], int)
    assert responses[2]["error"]["code"] == -32601
    garbage = handler.handle(SimRequest("POST", "", body=b"{nope"))
    assert garbage.json()["error"]["code"] == -32700
