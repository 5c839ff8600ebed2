"""`SolanaAdapter` against a mock JSON-RPC node that answers with real response bodies."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from walletsync.config import Chain
from walletsync.providers import solana
from walletsync.providers.errors import (
    MalformedResponseError,
    RateLimitedError,
    UpstreamBadRequestError,
    UpstreamNotFoundError,
)
from walletsync.providers.solana import SolanaAdapter, TokenAccount, TransactionUnavailableError
from walletsync.providers.solana_parse import TOKEN_2022_PROGRAM, TOKEN_PROGRAM
from walletsync.providers.types import NATIVE

if TYPE_CHECKING:
    from .conftest import MakeTransport, ReadResponse

Answer = Callable[[dict[str, Any]], dict[str, Any]]

SOL_TRANSFER = "2qfNzGs15dt999rt1AUJ7D1oPQaukMPPmHR2u5ZmDo4cVtr1Pr2Dax4Jo7ryTpM8jxjtXLi5NHy4uyr68MVh5my6"
SPL_TRANSFER = "3Zj5XkvE1Uec1frjue6SK2ND2cqhKPvPkZ1ZFPwo2v9iL4NX4b4WWG1wPNEQdnJJU8sVx7MMHjSH1HxoR21vEjoV"


def rpc_node(answer: Answer, *, reverse_batches: bool = False) -> Callable[[httpx.Request], httpx.Response]:
    """An HTTP handler answering each JSON-RPC request (single or batch) with `answer(request)`."""

    def handle(request: httpx.Request) -> httpx.Response:
        payload = json.loads(request.content)
        if isinstance(payload, list):
            replies = [{"jsonrpc": "2.0", "id": item["id"], **answer(item)} for item in payload]
            return httpx.Response(200, json=list(reversed(replies)) if reverse_batches else replies)
        return httpx.Response(200, json={"jsonrpc": "2.0", "id": payload["id"], **answer(payload)})

    return handle


def result_of(body: dict[str, Any]) -> dict[str, Any]:
    """The `{"result": ...}` member of a real envelope (or of a bare result file)."""
    return {"result": body["result"] if "jsonrpc" in body else body}


@pytest.fixture
def txs_by_signature(read_response: ReadResponse) -> dict[str, dict[str, Any]]:
    return {
        SOL_TRANSFER: read_response("solana/getTransaction_json_sol_transfer_devnet_1.json"),
        SPL_TRANSFER: read_response("solana/getTransaction_json_spl_transfer_devnet_1.json"),
    }


async def test_signatures_sends_paging_options_and_parses_entries(
    make_transport: MakeTransport, read_response: ReadResponse
) -> None:
    """getSignaturesForAddress gets limit/before/until/commitment; entries become TxRefs, newest first."""
    seen: list[dict[str, Any]] = []

    def answer(request: dict[str, Any]) -> dict[str, Any]:
        seen.append(request)
        return result_of(read_response("solana/getSignaturesForAddress_1.json"))

    transport = make_transport(rpc_node(answer), solana.classify_error)
    refs = await SolanaAdapter(transport).signatures("Addr1", before="SigB", until="SigU", limit=5)

    assert seen[0]["method"] == "getSignaturesForAddress"
    assert seen[0]["params"] == [
        "Addr1",
        {"limit": 5, "commitment": "finalized", "before": "SigB", "until": "SigU"},
    ]
    assert [r.height for r in refs] == [63372, 63370, 63369, 63367, 63365]
    assert refs[0].block_time == datetime.fromtimestamp(1633580920, tz=UTC)
    assert not any(r.failed for r in refs)


async def test_signatures_mark_failed_transactions(
    make_transport: MakeTransport, read_response: ReadResponse
) -> None:
    """Entries with a non-null `err` are TxRefs with failed=True (31 of the 1000 mainnet entries)."""
    body = read_response("solana/getSignaturesForAddress_1000_mainnet_1.json")
    transport = make_transport(rpc_node(lambda _: result_of(body)), solana.classify_error)

    refs = await SolanaAdapter(transport, commitment="confirmed").signatures("Addr1")

    assert len(refs) == 1000
    assert sum(r.failed for r in refs) == 31
    assert transport.calls[0].body["params"][1] == {"limit": 1000, "commitment": "confirmed"}


async def test_transactions_use_one_batch_and_keep_request_order(
    make_transport: MakeTransport, txs_by_signature: dict[str, dict[str, Any]]
) -> None:
    """N signatures are one POST costing N, jsonParsed v0-capable; results come back in request order."""

    def answer(request: dict[str, Any]) -> dict[str, Any]:
        return {"result": txs_by_signature[request["params"][0]]}

    transport = make_transport(rpc_node(answer, reverse_batches=True), solana.classify_error)
    txs = await SolanaAdapter(transport).transactions([SOL_TRANSFER, SPL_TRANSFER])

    assert [t.tx_id for t in txs] == [SOL_TRANSFER, SPL_TRANSFER]
    assert len(transport.calls) == 1
    call = transport.calls[0]
    assert (call.cost, call.idempotent, len(call.body)) == (2, True, 2)
    assert call.body[0]["method"] == "getTransaction"
    assert call.body[0]["params"][1] == {
        "encoding": "jsonParsed",
        "maxSupportedTransactionVersion": 0,
        "commitment": "finalized",
    }
    assert len({item["id"] for item in call.body}) == 2
    assert txs[0].chain is Chain.SOLANA
    assert txs[0].deltas[1].amount == 100_000_000


async def test_transactions_of_nothing_make_no_call(make_transport: MakeTransport) -> None:
    """An empty signature list returns [] without a request."""
    transport = make_transport(rpc_node(lambda _: {"result": None}), solana.classify_error)
    assert await SolanaAdapter(transport).transactions([]) == []
    assert transport.calls == []


async def _no_sleep(seconds: float) -> None:
    return None


async def test_null_result_in_batch_is_retried_then_fails_naming_the_signature(
    make_transport: MakeTransport, txs_by_signature: dict[str, dict[str, Any]]
) -> None:
    """A null item is not dropped: it alone is asked again, and when it stays null the error
    (retryable for the job, after every attempt here) names the missing signature."""

    def answer(request: dict[str, Any]) -> dict[str, Any]:
        return {"result": txs_by_signature.get(request["params"][0])}

    transport = make_transport(rpc_node(answer), solana.classify_error)
    adapter = SolanaAdapter(transport, item_attempts=3, sleep=_no_sleep)
    with pytest.raises(TransactionUnavailableError) as caught:
        await adapter.transactions([SOL_TRANSFER, "UnknownSig"])

    assert caught.value.signatures == ("UnknownSig",)
    assert caught.value.retryable is True
    assert "UnknownSig (null" in str(caught.value)
    assert "after 3 attempts" in str(caught.value)
    # The whole batch once, then only the failed item.
    assert [[item["params"][0] for item in call.body] for call in transport.calls] == [
        [SOL_TRANSFER, "UnknownSig"],
        ["UnknownSig"],
        ["UnknownSig"],
    ]


async def test_failed_items_are_retried_alone_and_the_batch_succeeds(
    make_transport: MakeTransport, txs_by_signature: dict[str, dict[str, Any]], read_response: ReadResponse
) -> None:
    """One item null and one answered -32005 on the first try: both asked again, results in order."""
    behind = read_response("solana/error_-32005_node_behind_1.json")["error"]
    tries: dict[str, int] = {}

    def answer(request: dict[str, Any]) -> dict[str, Any]:
        signature = request["params"][0]
        tries[signature] = tries.get(signature, 0) + 1
        if tries[signature] == 1 and signature == SOL_TRANSFER:
            return {"result": None}
        if tries[signature] == 1 and signature == SPL_TRANSFER:
            return {"error": behind}
        return {"result": txs_by_signature[signature]}

    transport = make_transport(rpc_node(answer), solana.classify_error)
    txs = await SolanaAdapter(transport, sleep=_no_sleep).transactions([SPL_TRANSFER, SOL_TRANSFER])
    assert [tx.tx_id for tx in txs] == [SPL_TRANSFER, SOL_TRANSFER]
    assert tries == {SOL_TRANSFER: 2, SPL_TRANSFER: 2}
    assert [call.cost for call in transport.calls] == [2, 2]


async def test_item_errors_raise_the_non_retryable_one_first(
    make_transport: MakeTransport, read_response: ReadResponse
) -> None:
    """Per-item JSON-RPC errors are mapped; a non-retryable one wins over a retryable one."""
    errors = {
        "A": read_response("solana/error_-32005_node_behind_1.json")["error"],
        "B": read_response("solana/error_-32602_invalid_params_1.json")["error"],
    }
    transport = make_transport(rpc_node(lambda r: {"error": errors[r["params"][0]]}), solana.classify_error)

    with pytest.raises(UpstreamBadRequestError) as bad:
        await SolanaAdapter(transport, sleep=_no_sleep).transactions(["A", "B"])
    assert "getTransaction B:" in str(bad.value)
    with pytest.raises(TransactionUnavailableError) as unavailable:
        await SolanaAdapter(transport, sleep=_no_sleep).transactions(["A"])
    assert "A (JSON-RPC -32005" in str(unavailable.value)


async def test_batch_answered_by_one_error_object_or_missing_items(make_transport: MakeTransport) -> None:
    """A single error object for a whole batch raises its error; an item missing from the reply is malformed."""

    def whole_error(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, json={"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "batch"}}
        )

    def short_reply(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=[])

    with pytest.raises(UpstreamBadRequestError):
        await SolanaAdapter(make_transport(whole_error, solana.classify_error)).transactions(["A"])
    with pytest.raises(TransactionUnavailableError, match="A \\(batch response lacks id 1\\)"):
        await SolanaAdapter(make_transport(short_reply, solana.classify_error), sleep=_no_sleep).transactions(
            ["A"]
        )


async def test_http_429_surfaces_as_rate_limited(make_transport: MakeTransport) -> None:
    """A rate-limited reply to the batch is RateLimitedError with the server's Retry-After."""

    def limited(request: httpx.Request) -> httpx.Response:
        body = {"jsonrpc": "2.0", "id": 1, "error": {"code": 429, "message": "Too many requests"}}
        return httpx.Response(429, json=body, headers={"Retry-After": "2"})

    with pytest.raises(RateLimitedError) as caught:
        await SolanaAdapter(make_transport(limited, solana.classify_error)).transactions([SOL_TRANSFER])
    assert caught.value.retry_after_s == 2.0


async def test_balance_and_slot(make_transport: MakeTransport, read_response: ReadResponse) -> None:
    """getBalance's value and getSlot's integer, both at the adapter's commitment."""
    answers = {
        "getBalance": result_of(read_response("solana/getBalance_full_3.json")),
        "getSlot": result_of(read_response("solana/getSlot_full_1.json")),
    }
    transport = make_transport(rpc_node(lambda r: answers[r["method"]]), solana.classify_error)
    adapter = SolanaAdapter(transport)

    assert await adapter.balance("Addr1") == 114_638_463_277
    assert await adapter.slot() == 78_413_497
    assert transport.calls[0].body["params"] == ["Addr1", {"commitment": "finalized"}]
    assert transport.calls[1].body["params"] == [{"commitment": "finalized"}]


async def test_token_accounts_query_both_token_programs(
    make_transport: MakeTransport, read_response: ReadResponse
) -> None:
    """getTokenAccountsByOwner runs for Tokenkeg and Token-2022 (jsonParsed); amounts are exact ints."""
    docs = read_response("solana/getTokenAccountsByOwner_jsonParsed_docs_1.json")

    def answer(request: dict[str, Any]) -> dict[str, Any]:
        program = request["params"][1]["programId"]
        assert request["params"][2] == {"encoding": "jsonParsed", "commitment": "finalized"}
        return {"result": docs if program == TOKEN_PROGRAM else {"context": {"slot": 1114}, "value": []}}

    transport = make_transport(rpc_node(answer), solana.classify_error)
    accounts = await SolanaAdapter(transport).token_accounts("4Qkev8aNZcqFNSRhQzwyLMFSsi94jHqE8WNVTJzTP99F")

    assert accounts == [
        TokenAccount(
            "CnPoSPKXu7wJqxe59Fs72tkBeALovhsCxYeFwPCQH9TD", "3wyAj7Rt1TWVPZVteFJPLa26JmLvdb1CAKEFZm3NY75E", 1
        )
    ]
    assert {c.body["params"][1]["programId"] for c in transport.calls} == {TOKEN_PROGRAM, TOKEN_2022_PROGRAM}


async def test_node_without_token_2022_reports_none_of_its_accounts(
    make_transport: MakeTransport, read_response: ReadResponse
) -> None:
    """-32602 "unrecognized Token program id" for Token-2022 only means none; for Tokenkeg it is an error."""
    docs = read_response("solana/getTokenAccountsByOwner_jsonParsed_docs_1.json")
    unknown = {"code": -32602, "message": "Invalid param: unrecognized Token program id"}

    def old_node(request: dict[str, Any]) -> dict[str, Any]:
        return {"result": docs} if request["params"][1]["programId"] == TOKEN_PROGRAM else {"error": unknown}

    accounts = await SolanaAdapter(make_transport(rpc_node(old_node), solana.classify_error)).token_accounts(
        "O"
    )
    assert [a.amount for a in accounts] == [1]

    broken = make_transport(rpc_node(lambda _: {"error": unknown}), solana.classify_error)
    with pytest.raises(UpstreamBadRequestError):
        await SolanaAdapter(broken).token_accounts("O")


async def test_token_accounts_without_json_parsed_are_malformed(
    make_transport: MakeTransport, read_response: ReadResponse
) -> None:
    """The binary reply (data "error: data too large for bs58 encoding") is rejected, not misread."""
    body = read_response("solana/getTokenAccountsByOwner_binary_1.json")
    transport = make_transport(rpc_node(lambda _: result_of(body)), solana.classify_error)
    with pytest.raises(MalformedResponseError):
        await SolanaAdapter(transport).token_accounts("Owner")


# A jsonParsed mint account in the RPC's documented shape (no real mint body is in the shared folder).
MINT_BODY = {
    "context": {"slot": 2860},
    "value": {
        "data": {
            "parsed": {
                "info": {
                    "decimals": 6,
                    "freezeAuthority": None,
                    "isInitialized": True,
                    "mintAuthority": "BJE5MMbqXjVwjAF7oxwPYXnTXDyspzZyt4vwenNw5ruG",
                    "supply": "5034943397383958",
                },
                "type": "mint",
            },
            "program": "spl-token",
            "space": 82,
        },
        "executable": False,
        "lamports": 1461600,
        "owner": TOKEN_PROGRAM,
        "rentEpoch": 18446744073709551615,
        "space": 82,
    },
}


async def test_mint_info_reads_decimals_and_is_cached(make_transport: MakeTransport) -> None:
    """getAccountInfo (jsonParsed) of a mint gives decimals; the call asks the client to cache it."""
    transport = make_transport(rpc_node(lambda _: {"result": MINT_BODY}), solana.classify_error)
    info = await SolanaAdapter(transport, metadata_cache_ttl_s=600).mint_info(
        "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
    )

    assert (info.chain, info.asset_key, info.decimals) == (
        Chain.SOLANA,
        "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v",
        6,
    )
    assert info.metadata["supply"] == "5034943397383958"
    assert transport.calls[0].cache_ttl_s == 600
    assert transport.calls[0].body["params"][1]["encoding"] == "jsonParsed"


async def test_mint_info_of_native_needs_no_call(make_transport: MakeTransport) -> None:
    """`"native"` is SOL with 9 decimals, answered without a request."""
    transport = make_transport(rpc_node(lambda _: {"result": None}), solana.classify_error)
    info = await SolanaAdapter(transport).mint_info(NATIVE)
    assert (info.symbol, info.decimals) == ("SOL", 9)
    assert transport.calls == []


@pytest.mark.parametrize(
    "name", ["getAccountInfo_null_2.json", "getAccountInfo_jsonParsed_token_account_1.json"]
)
async def test_mint_info_of_a_missing_or_non_mint_account(
    make_transport: MakeTransport, read_response: ReadResponse, name: str
) -> None:
    """No account, or a token account instead of a mint, is UpstreamNotFoundError."""
    body = read_response(f"solana/{name}")
    transport = make_transport(rpc_node(lambda _: result_of(body)), solana.classify_error)
    with pytest.raises(UpstreamNotFoundError):
        await SolanaAdapter(transport).mint_info("Mint1")
