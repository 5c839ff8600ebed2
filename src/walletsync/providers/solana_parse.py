"""Pure parsing of Solana JSON-RPC bodies into walletsync's normalized types (no I/O).

`normalize_solana_tx` turns a `getTransaction` result into a `ChainTx` whose deltas are the balance
changes the runtime itself recorded (`meta.pre/postBalances`, `meta.pre/postTokenBalances`), not a
reading of instructions: that covers every program, inner instructions and failed transactions
alike. `rpc_error` maps JSON-RPC error objects to the typed provider errors.

Binary-encoded transactions (`encoding: "base64"`/`"base58"`) are read far enough to get the first
signature and the static account keys (the wire format's first two arrays, ~30 lines below). A
Solana SDK could do this, but the native `solders` wheel is a heavy dependency for two arrays, and
without the keys the lamport deltas of such a response would have no owner.
"""

from __future__ import annotations

import base64
import binascii
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

import base58

from walletsync.config import Chain
from walletsync.providers.amounts import AmountError, digits_u64, u64
from walletsync.providers.errors import (
    MalformedResponseError,
    ProviderError,
    RateLimitedError,
    RpcError,
    TransientProviderError,
    UpstreamBadRequestError,
    UpstreamNotFoundError,
    UpstreamServerError,
)
from walletsync.providers.types import NATIVE, AssetInfo, BalanceDelta, ChainTx, TxRef

PROVIDER = "solana"
TOKEN_PROGRAM = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"  # noqa: S105 - a program id, not a secret
TOKEN_2022_PROGRAM = "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb"  # noqa: S105 - a program id
SOL_DECIMALS = 9


class TransactionNotFoundError(TransientProviderError):
    """`getTransaction` answered `null`: the serving node does not have the transaction (yet).

    Retryable on purpose: the indexer only asks for signatures the same provider listed at the same
    commitment, so a null means a lagging node or one without that ledger history, and another
    attempt (possibly on another endpoint) can succeed.
    """

    status = 404

    def __init__(self, signatures: Sequence[str], **kwargs: object) -> None:
        if signatures:
            more = f" and {len(signatures) - 3} more" if len(signatures) > 3 else ""
            detail = f"transaction not found: {', '.join(signatures[:3])}{more}"
        else:
            detail = "getTransaction result is null: the node does not have this transaction"
        super().__init__(detail, **kwargs)  # type: ignore[arg-type]
        self.signatures = tuple(signatures)


class TransactionUnavailableError(TransientProviderError):
    """`getTransaction` kept failing for these signatures (a null result or a retryable item error)
    through every attempt of the adapter; the detail names each signature and its last failure."""

    status = 503

    def __init__(self, failures: Mapping[str, str], *, attempts: int, **kwargs: object) -> None:
        listed = [f"{signature} ({reason})" for signature, reason in failures.items()]
        more = f" and {len(listed) - 3} more" if len(listed) > 3 else ""
        detail = f"transaction unavailable after {attempts} attempts: {', '.join(listed[:3])}{more}"
        super().__init__(detail, **kwargs)  # type: ignore[arg-type]
        self.signatures = tuple(failures)


class TokenAccount(NamedTuple):
    """One SPL token account of an owner: (account address, mint, raw amount)."""

    account: str
    mint: str
    amount: int


# JSON-RPC error codes (solana-rpc-client-api `custom_error.rs`, JSON-RPC 2.0 spec) and what a retry
# can do about them. A skipped slot (-32007/-32009) never gets a block, and a version the request
# does not accept (-32015) needs a different request, so those are not retried.
_RETRYABLE_CODES = {
    -32603: "internal error",
    -32004: "block not available",
    -32005: "node unhealthy or behind",
    -32014: "block status not yet available",
    -32016: "minimum context slot not reached",
}
_BAD_REQUEST_CODES = {-32700, -32600, -32601, -32602}


def rpc_error(
    error: Any, *, http_status: int | None = None, retry_after: float | None = None
) -> ProviderError:
    """The typed error for a JSON-RPC `error` object."""
    if not isinstance(error, Mapping):
        return MalformedResponseError(f"JSON-RPC error is not an object: {error!r}", provider=PROVIDER)
    code = error.get("code")
    message = str(error.get("message") or "JSON-RPC error")
    detail = f"JSON-RPC {code}: {message}"
    kwargs: dict[str, Any] = {"provider": PROVIDER, "http_status": http_status}
    if code == 429:
        return RateLimitedError(detail, retry_after_s=retry_after, **kwargs)
    if code in _RETRYABLE_CODES:
        return UpstreamServerError(detail, **kwargs)
    if code in _BAD_REQUEST_CODES:
        return UpstreamBadRequestError(detail, **kwargs)
    return RpcError(detail, code=code if isinstance(code, int) else 0, **kwargs)


def unwrap_result(body: Any) -> Any:
    """`result` of a JSON-RPC response envelope; its `error` raised as a typed error."""
    if not isinstance(body, Mapping):
        raise MalformedResponseError(
            f"JSON-RPC response is not an object: {_preview(body)}", provider=PROVIDER
        )
    if body.get("error") is not None:
        raise rpc_error(body["error"])
    if "result" not in body:
        raise MalformedResponseError("JSON-RPC response has neither result nor error", provider=PROVIDER)
    return body["result"]


def normalize_solana_tx(result: Mapping[str, Any]) -> ChainTx:
    """A `getTransaction` result (or its whole JSON-RPC envelope) as a `ChainTx`.

    Raises `TransactionNotFoundError` for a null result, the mapped error for an error envelope and
    `MalformedResponseError` for any other shape.
    """
    if (
        isinstance(result, Mapping)
        and "transaction" not in result
        and ("result" in result or "error" in result)
    ):
        inner = unwrap_result(result)
        if inner is None:
            raise TransactionNotFoundError([], provider=PROVIDER)
        result = inner
    if not isinstance(result, Mapping):
        raise MalformedResponseError(f"not a getTransaction result: {_preview(result)}", provider=PROVIDER)
    try:
        return _normalize(result)
    except AmountError as exc:
        raise MalformedResponseError(
            f"transaction {_signature_of(result)}: {exc}", provider=PROVIDER
        ) from exc
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise MalformedResponseError(
            f"not a getTransaction result ({type(exc).__name__}: {exc})", provider=PROVIDER
        ) from exc


def _normalize(result: Mapping[str, Any]) -> ChainTx:
    meta = result["meta"]
    if meta is None:
        raise ValueError("meta is null (the node did not keep transaction status)")
    signature, keys = _signature_and_keys(result["transaction"], meta)
    sums: dict[tuple[str, str], int] = defaultdict(int)
    for index, (pre, post) in enumerate(zip(meta["preBalances"], meta["postBalances"], strict=True)):
        before = u64(pre, f"meta.preBalances[{index}]")
        after = u64(post, f"meta.postBalances[{index}]")
        if after != before:
            sums[(keys[index], NATIVE)] += after - before
    for sign, side in ((-1, "preTokenBalances"), (1, "postTokenBalances")):
        # A missing entry on one side is a zero balance: the account was created (no pre) or closed
        # (no post) in this transaction.
        for position, entry in enumerate(meta.get(side) or ()):
            owner = entry.get("owner")
            if not owner:
                # Token balances recorded before the RPC added `owner` (2021) name only the token
                # account; its address is the best owner we have (what explorers show as well).
                owner = keys[entry["accountIndex"]]
            amount = digits_u64(
                entry["uiTokenAmount"]["amount"], f"meta.{side}[{position}].uiTokenAmount.amount"
            )
            sums[(owner, entry["mint"])] += sign * amount
    deltas = tuple(
        BalanceDelta(owner=owner, asset=asset, amount=amount)
        for (owner, asset), amount in sorted(sums.items())
        if amount != 0
    )
    block_time = result.get("blockTime")
    return ChainTx(
        chain=Chain.SOLANA,
        tx_id=signature,
        height=u64(result["slot"], "slot"),
        block_time=datetime.fromtimestamp(block_time, tz=UTC) if block_time is not None else None,
        fee=u64(meta["fee"], "meta.fee"),
        success=meta.get("err") is None,
        deltas=deltas,
        fee_payer=keys[0],  # the first account key signs and pays, whatever the outcome
        raw=dict(result),
    )


def token_decimals(result: Mapping[str, Any]) -> dict[str, int]:
    """mint -> decimals, as the transaction's own token balances state them (`uiTokenAmount.decimals`)."""
    meta = result.get("meta") or {}
    found: dict[str, int] = {}
    for entry in [*(meta.get("preTokenBalances") or ()), *(meta.get("postTokenBalances") or ())]:
        decimals = (entry.get("uiTokenAmount") or {}).get("decimals")
        if isinstance(entry.get("mint"), str) and type(decimals) is int and 0 <= decimals <= 255:
            found[entry["mint"]] = decimals
    return found


def _signature_of(result: Mapping[str, Any]) -> str:
    """The transaction's first signature for an error message, or "?" when it cannot be read."""
    try:
        transaction = result["transaction"]
        if isinstance(transaction, list):
            return decode_wire_transaction(transaction[0], transaction[1])[0]
        return str(transaction["signatures"][0])
    except (KeyError, TypeError, ValueError, IndexError):
        return "?"


def owned_token_accounts(result: Mapping[str, Any], owner: str) -> set[str]:
    """Addresses of the token accounts `owner` held in this transaction (from its token balances).

    How a wallet's token accounts that are closed by now are found: `getTokenAccountsByOwner` lists
    only open ones, but the owner's own transactions name every account it used.
    """
    meta = result.get("meta") or {}
    entries = [*(meta.get("preTokenBalances") or ()), *(meta.get("postTokenBalances") or ())]
    mine = [entry["accountIndex"] for entry in entries if entry.get("owner") == owner]
    if not mine:
        return set()
    _, keys = _signature_and_keys(result["transaction"], meta)
    return {keys[index] for index in mine}


def _signature_and_keys(transaction: Any, meta: Mapping[str, Any]) -> tuple[str, list[str]]:
    """The first signature and the account keys in balance-array order (static, then loaded)."""
    if isinstance(transaction, list):
        signature, static = decode_wire_transaction(transaction[0], transaction[1])
    else:
        signature = transaction["signatures"][0]
        static = [k if isinstance(k, str) else k["pubkey"] for k in transaction["message"]["accountKeys"]]
    loaded = meta.get("loadedAddresses") or {}
    looked_up = [*(loaded.get("writable") or ()), *(loaded.get("readonly") or ())]
    count = len(meta["preBalances"])
    if looked_up and len(static) + len(looked_up) == count:
        return signature, [*static, *looked_up]
    # jsonParsed lists looked-up keys in accountKeys itself (source "lookupTable") and has no
    # loadedAddresses; some captured json responses were saved with them merged the same way.
    if len(static) == count:
        return signature, static
    raise ValueError(
        f"{len(static)} account keys and {len(looked_up)} loaded addresses do not match {count} balances"
    )


def decode_wire_transaction(data: str, encoding: str) -> tuple[str, list[str]]:
    """First signature and static account keys of a binary-encoded (legacy or v0) transaction."""
    if encoding not in ("base64", "base58"):
        raise ValueError(f"unsupported transaction encoding {encoding!r}")
    try:
        raw = base64.b64decode(data, validate=True) if encoding == "base64" else base58.b58decode(data)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"transaction data is not valid {encoding}") from exc
    count, pos = _compact_u16(raw, 0)
    if count == 0:
        raise ValueError("transaction has no signature")
    signature = base58.b58encode(raw[pos : pos + 64]).decode()
    pos += 64 * count
    if raw[pos] & 0x80:  # versioned message: a version byte precedes the 3-byte header
        pos += 1
    pos += 3
    key_count, pos = _compact_u16(raw, pos)
    if pos + 32 * key_count > len(raw):
        raise ValueError("transaction data is truncated")
    keys = [base58.b58encode(raw[pos + 32 * i : pos + 32 * (i + 1)]).decode() for i in range(key_count)]
    return signature, keys


def _compact_u16(raw: bytes, pos: int) -> tuple[int, int]:
    value = 0
    for shift in (0, 7, 14):
        byte = raw[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
    raise ValueError("malformed compact-u16 length")


def parse_signatures(result: Any) -> list[TxRef]:
    """`getSignaturesForAddress` result (newest first, as the node returns it) as `TxRef`s."""
    if not isinstance(result, list):
        raise MalformedResponseError(
            f"signatures result is not a list: {_preview(result)}", provider=PROVIDER
        )
    try:
        return [
            TxRef(
                tx_id=entry["signature"],
                height=int(entry["slot"]),
                block_time=(
                    datetime.fromtimestamp(entry["blockTime"], tz=UTC)
                    if entry.get("blockTime") is not None
                    else None
                ),
                failed=entry.get("err") is not None,
            )
            for entry in result
        ]
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedResponseError(f"bad signature entry ({exc})", provider=PROVIDER) from exc


def parse_token_accounts(result: Any) -> list[TokenAccount]:
    """A jsonParsed `getTokenAccountsByOwner` result as `TokenAccount`s."""
    try:
        entries: Iterable[Mapping[str, Any]] = result["value"]
        accounts = []
        for entry in entries:
            info = entry["account"]["data"]["parsed"]["info"]
            amount = digits_u64(info["tokenAmount"]["amount"], "tokenAmount.amount")
            accounts.append(TokenAccount(entry["pubkey"], info["mint"], amount))
        return accounts
    except (KeyError, TypeError, ValueError) as exc:
        # Without jsonParsed the node returns data as base58/base64 (or the string "error: data too
        # large for bs58 encoding"), which lands here too.
        raise MalformedResponseError(
            f"not a jsonParsed token account list ({exc!r})", provider=PROVIDER
        ) from exc


def native_asset() -> AssetInfo:
    """SOL itself, in lamports."""
    return AssetInfo(chain=Chain.SOLANA, asset_key=NATIVE, symbol="SOL", name="Solana", decimals=SOL_DECIMALS)


def parse_mint_info(mint: str, result: Any) -> AssetInfo:
    """A jsonParsed `getAccountInfo` result of an SPL (or Token-2022) mint as `AssetInfo`."""
    value = result.get("value") if isinstance(result, Mapping) else None
    if value is None:
        raise UpstreamNotFoundError(f"no account at {mint}", provider=PROVIDER)
    data = value.get("data")
    parsed = data.get("parsed") if isinstance(data, Mapping) else None
    if not isinstance(parsed, Mapping) or parsed.get("type") != "mint":
        raise UpstreamNotFoundError(f"account {mint} is not a token mint", provider=PROVIDER)
    info = parsed.get("info") or {}
    symbol = name = None
    metadata: dict[str, Any] = {"program": data.get("program"), "supply": info.get("supply")}
    # Token-2022 mints may carry their name and symbol in the token-metadata extension.
    for extension in info.get("extensions") or ():
        if isinstance(extension, Mapping) and extension.get("extension") == "tokenMetadata":
            state = extension.get("state") or {}
            symbol, name = _text(state.get("symbol")), _text(state.get("name"))
            if isinstance(state.get("uri"), str) and state["uri"]:
                metadata["uri"] = state["uri"]
    decimals = info.get("decimals")
    return AssetInfo(
        chain=Chain.SOLANA,
        asset_key=mint,
        symbol=symbol,
        name=name,
        decimals=int(decimals) if decimals is not None else None,
        metadata={k: v for k, v in metadata.items() if v is not None},
    )


def _text(value: Any) -> str | None:
    """A metadata string as shown: trimmed, None when absent, empty or not a string."""
    return value.strip() or None if isinstance(value, str) else None


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
