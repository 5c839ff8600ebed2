"""Solana JSON-RPC 2.0 over the synthetic chain: single and batch requests, real response shapes.

Methods: getSignaturesForAddress, getTransaction (json / jsonParsed), getBalance,
getTokenAccountsByOwner, getAccountInfo, getSlot, getHealth, getVersion, getProgramAccounts (stake
accounts, `simulator.staking`). Shapes follow the real
responses in shared/real-responses/solana (see its README "Format quirks"): lamports are integers,
token amounts strings beside decimals/uiAmount/uiAmountString, `version` only when the caller sent
maxSupportedTransactionVersion, and a v0 transaction without it is error -32015.
Transaction bodies are built in `solana_txs`, accounts (mints, token accounts, token metadata) in
`solana_accounts`. Deliberate limits: getTransaction supports only the json and jsonParsed encodings (others get
-32602); the compute-unit and log lines are plausible, not what a validator would print.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from typing import Any

from walletsync.simulator.encoding import b58decode, is_solana_pubkey
from walletsync.simulator.solana_accounts import (
    TOKEN_2022_PROGRAM,
    account_info,
    token_account,
)
from walletsync.simulator.solana_chain import SolanaChain
from walletsync.simulator.solana_records import TOKEN_PROGRAM
from walletsync.simulator.solana_txs import transaction_json, tx_error
from walletsync.simulator.staking import SolanaStakes, StakeQueryError
from walletsync.simulator.wire import SimRequest, SimResponse, dumps, json_response

API_VERSION = "2.1.21"
MAX_SIGNATURES = 1000

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
VERSION_NOT_SUPPORTED = -32015

_V0_NOT_SUPPORTED = (
    "Transaction version (0) is not supported by the requesting client. Please try the request again "
    'with the following configuration parameter: "maxSupportedTransactionVersion": 0'
)


class RpcError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class SolanaRpc:
    """The JSON-RPC handler: `handle` a POST body (single call or batch) into a response."""

    name = "solana"

    def __init__(self, chain: SolanaChain) -> None:
        self.chain = chain
        self._methods = {
            "getSignaturesForAddress": self.get_signatures_for_address,
            "getTransaction": self.get_transaction,
            "getBalance": self.get_balance,
            "getTokenAccountsByOwner": self.get_token_accounts_by_owner,
            "getAccountInfo": self.get_account_info,
            "getSlot": self.get_slot,
            "getHealth": self.get_health,
            "getVersion": self.get_version,
            "getProgramAccounts": self.get_program_accounts,
        }

    # --- ProviderHandler --------------------------------------------------------------------

    def cost(self, request: SimRequest) -> int:
        if request.parsed is None:
            try:
                request.parsed = json.loads(request.body)
            except ValueError:
                request.parsed = _Unparseable
        parsed = request.parsed
        return max(1, len(parsed)) if isinstance(parsed, list) else 1

    def handle(self, request: SimRequest) -> SimResponse:
        if request.method != "POST":
            return SimResponse(
                405, b"Used HTTP Method is not allowed. POST or OPTIONS is required", "text/plain"
            )
        self.cost(request)
        parsed = request.parsed
        if parsed is _Unparseable:
            return json_response(_error_envelope(None, PARSE_ERROR, "Parse error"))
        if isinstance(parsed, list):
            if not parsed:
                return json_response(_error_envelope(None, INVALID_REQUEST, "Invalid request"))
            return SimResponse(200, b"[" + b",".join(self._call_bytes(c) for c in parsed) + b"]")
        return SimResponse(200, self._call_bytes(parsed))

    def rate_limited(self, retry_after_s: int) -> SimResponse:
        body = _error_envelope(
            None, 429, "Too many requests for a specific RPC call, contact your app developer"
        )
        return json_response(body, 429, (("retry-after", str(retry_after_s)),))

    def server_error(self, status: int) -> SimResponse:
        text = b"Service Unavailable" if status == 503 else b"Internal Server Error"
        return SimResponse(status, text, "text/plain")

    # --- dispatch ---------------------------------------------------------------------------

    def call(self, call: Any) -> dict[str, Any]:
        """One JSON-RPC call object to its response object."""
        if (
            not isinstance(call, dict)
            or call.get("jsonrpc") != "2.0"
            or not isinstance(call.get("method"), str)
        ):
            call_id = call.get("id") if isinstance(call, dict) else None
            return _error_envelope(call_id, INVALID_REQUEST, "Invalid request")
        call_id = call.get("id")
        method = self._methods.get(call["method"])
        if method is None:
            return _error_envelope(call_id, METHOD_NOT_FOUND, "Method not found")
        params = call.get("params", [])
        if not isinstance(params, list):
            return _error_envelope(call_id, INVALID_PARAMS, "Invalid params: expected an array")
        try:
            return {"jsonrpc": "2.0", "result": method(params), "id": call_id}
        except RpcError as exc:
            return _error_envelope(call_id, exc.code, exc.message)

    def _call_bytes(self, call: Any) -> bytes:
        return dumps(self.call(call))

    # --- methods ----------------------------------------------------------------------------

    def get_slot(self, params: list[Any]) -> int:
        config = _config(params, 0)
        return (
            self.chain.latest_slot if config.get("commitment") == "confirmed" else self.chain.finalized_slot
        )

    def get_health(self, params: list[Any]) -> str:
        return "ok"

    def get_version(self, params: list[Any]) -> dict[str, Any]:
        return {"feature-set": 1_725_507_508, "solana-core": API_VERSION}

    def _context(self) -> dict[str, Any]:
        return {"apiVersion": API_VERSION, "slot": self.chain.latest_slot}

    def get_balance(self, params: list[Any]) -> dict[str, Any]:
        address = _pubkey_param(params)
        _config(params, 1)
        idx = self.chain.account_index.get(address)
        return {"context": self._context(), "value": self.chain.lamports[idx] if idx is not None else 0}

    def get_signatures_for_address(self, params: list[Any]) -> list[dict[str, Any]]:
        address = _pubkey_param(params)
        config = _config(params, 1)
        limit = config.get("limit", MAX_SIGNATURES)
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_SIGNATURES:
            raise RpcError(INVALID_PARAMS, f"Invalid limit; max {MAX_SIGNATURES}")
        chain = self.chain
        tx_ids = chain.signatures_for(address)
        end = len(tx_ids)  # exclusive, newest-first walk starts at end - 1
        before = config.get("before")
        if before is not None:
            _signature_param(before)
            pos = chain.position_of(tx_ids, before)
            end = pos if pos is not None else 0
        start = 0
        until = config.get("until")
        if until is not None:
            _signature_param(until)
            pos = chain.position_of(tx_ids, until)
            if pos is not None:
                start = pos + 1
        txs = chain.txs
        if config.get("commitment") != "confirmed":  # the newest, not yet finalized, are not seen
            end = min(end, bisect_right(tx_ids, chain.finalized_slot, key=lambda t: txs[t].slot))
        out = []
        for i in range(end - 1, max(start, end - limit) - 1, -1):
            tx = txs[tx_ids[i]]
            out.append(
                {
                    "blockTime": tx.block_time,
                    "confirmationStatus": "finalized" if tx.slot <= chain.finalized_slot else "confirmed",
                    "err": tx_error(tx),
                    "memo": None,
                    "signature": tx.signature,
                    "slot": tx.slot,
                }
            )
        return out

    def get_transaction(self, params: list[Any]) -> dict[str, Any] | None:
        if not params or not isinstance(params[0], str):
            raise RpcError(INVALID_PARAMS, "Invalid params: missing signature")
        signature = params[0]
        idx = self.chain.sig_index.get(signature)
        if idx is None:  # a signature the chain has is valid base58 of 64 bytes: checked only otherwise
            _signature_param(signature)
        raw = params[1] if len(params) > 1 else None
        config: dict[str, Any] = {"encoding": raw} if isinstance(raw, str) else _config(params, 1)
        encoding = config.get("encoding") or "json"
        if encoding not in ("json", "jsonParsed"):
            raise RpcError(INVALID_PARAMS, f"Invalid params: unsupported encoding {encoding!r}")
        if config.get("commitment") == "processed":
            raise RpcError(INVALID_PARAMS, "Method does not support commitment below `confirmed`")
        max_version = config.get("maxSupportedTransactionVersion")
        if idx is None:
            return None
        tx = self.chain.txs[idx]
        if not self.chain.visible(tx, config.get("commitment")):
            return None
        if tx.version == 0 and max_version is None:
            raise RpcError(VERSION_NOT_SUPPORTED, _V0_NOT_SUPPORTED)
        return transaction_json(
            self.chain, tx, parsed=encoding == "jsonParsed", with_version=max_version is not None
        )

    def get_program_accounts(self, params: list[Any]) -> Any:
        """Stake-program accounts (`simulator.staking`); no other program owns accounts here."""
        try:
            return SolanaStakes.of(self.chain).program_accounts(params, self._context())
        except StakeQueryError as exc:
            raise RpcError(exc.code, exc.message) from None

    def get_token_accounts_by_owner(self, params: list[Any]) -> dict[str, Any]:
        owner = _pubkey_param(params)
        selector = params[1] if len(params) > 1 else None
        if not isinstance(selector, dict) or not ({"mint", "programId"} & selector.keys()):
            raise RpcError(INVALID_PARAMS, "Invalid params: missing `mint` or `programId` filter")
        config = _config(params, 2)
        chain = self.chain
        accounts = {
            mint: ta
            for mint, ta in chain.owner_token_accounts.get(chain.account_index.get(owner, -1), {}).items()
            if not self._closed(ta, config.get("commitment"))
        }
        if "mint" in selector:
            mint = chain.mint_index.get(selector["mint"])
            chosen = [accounts[mint]] if mint is not None and mint in accounts else []
        else:
            if selector["programId"] not in (TOKEN_PROGRAM, TOKEN_2022_PROGRAM):
                raise RpcError(INVALID_PARAMS, "Invalid param: unrecognized Token program id")
            # every simulated mint is a classic SPL Token mint: Token-2022 owns no accounts here
            chosen = list(accounts.values()) if selector["programId"] == TOKEN_PROGRAM else []
        encoding = config.get("encoding", "base58")
        value = [
            {"account": token_account(chain, ta, encoding), "pubkey": chain.accounts[ta]} for ta in chosen
        ]
        return {"context": self._context(), "value": value}

    def _closed(self, ta: int, commitment: str | None) -> bool:
        """Closed, as seen at `commitment`: its closing transaction (its last) is visible there."""
        chain = self.chain
        if ta not in chain.closed_token_accounts:
            return False
        return chain.visible(chain.txs[chain.address_txs[ta][-1]], commitment)

    def get_account_info(self, params: list[Any]) -> dict[str, Any]:
        address = _pubkey_param(params)
        encoding = _config(params, 1).get("encoding", "base58")
        chain = self.chain
        value = account_info(chain, address, encoding, lambda idx: idx in chain.closed_token_accounts)
        return {"context": self._context(), "value": value}


class _UnparseableBody:
    pass


_Unparseable = _UnparseableBody()


def _error_envelope(call_id: Any, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "error": {"code": code, "message": message}, "id": call_id}


def _pubkey_param(params: list[Any]) -> str:
    if not params or not isinstance(params[0], str):
        raise RpcError(INVALID_PARAMS, "Invalid params: missing address")
    if not is_solana_pubkey(params[0]):
        raise RpcError(INVALID_PARAMS, "Invalid param: Invalid")
    return params[0]


def _signature_param(value: Any) -> None:
    if not isinstance(value, str) or not 64 <= len(value) <= 88:
        raise RpcError(INVALID_PARAMS, "Invalid param: Invalid")
    try:
        if len(b58decode(value)) != 64:
            raise RpcError(INVALID_PARAMS, "Invalid param: WrongSize")
    except ValueError:
        raise RpcError(INVALID_PARAMS, "Invalid param: Invalid") from None


def _config(params: list[Any], position: int) -> dict[str, Any]:
    if len(params) <= position or params[position] is None:
        return {}
    config = params[position]
    if not isinstance(config, dict):
        raise RpcError(INVALID_PARAMS, "Invalid params: expected a configuration object")
    return config
