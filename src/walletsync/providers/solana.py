"""Solana JSON-RPC adapter: list a wallet's signatures, fetch and normalize transactions, read balances.

Every call goes through the `JsonTransport` it is given (the resilient client in production), so rate
limits, retries and endpoint failover are not this module's concern. `classify_error` is the reading
of Solana responses the client applies to every reply. Parsing lives in `solana_parse`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Literal

import structlog

from walletsync.config import Chain
from walletsync.providers.amounts import u64
from walletsync.providers.errors import (
    MalformedResponseError,
    ProviderAuthError,
    ProviderError,
    RateLimitedError,
    UpstreamBadRequestError,
    UpstreamNotFoundError,
    UpstreamServerError,
)
from walletsync.providers.headers import retry_after_s
from walletsync.providers.metaplex import (
    MetadataFormatError,
    MetaplexMetadata,
    metadata_address,
    metadata_from_account,
)
from walletsync.providers.solana_parse import (
    PROVIDER,
    TOKEN_2022_PROGRAM,
    TOKEN_PROGRAM,
    TokenAccount,
    TransactionNotFoundError,
    TransactionUnavailableError,
    native_asset,
    normalize_solana_tx,
    parse_mint_info,
    parse_signatures,
    parse_token_accounts,
    rpc_error,
    unwrap_result,
)
from walletsync.providers.staking import (
    STAKE_PROGRAM,
    STAKER_OFFSET,
    WITHDRAWER_OFFSET,
    StakePosition,
    merge_stake_accounts,
    parse_stake_accounts,
    stake_account_filters,
)
from walletsync.providers.types import NATIVE, AssetInfo, ChainTx, JsonTransport, TxRef

__all__ = [
    "RPC_PATH",
    "SolanaAdapter",
    "TokenAccount",
    "TransactionNotFoundError",
    "TransactionUnavailableError",
    "classify_error",
    "normalize_solana_tx",
]

log = structlog.get_logger(__name__)

RPC_PATH = ""
"""JSON-RPC is posted to the endpoint URL itself."""

Commitment = Literal["confirmed", "finalized"]


def classify_error(status: int, body: Any, headers: Mapping[str, str]) -> ProviderError | None:
    """The typed error a Solana RPC response means, or None when it is a usable reply.

    A batch reply (a JSON list) is only judged as a whole here; its items' errors are the adapter's.
    """
    if status == 429:
        detail = "HTTP 429 rate limited"
        if isinstance(body, Mapping) and isinstance(body.get("error"), Mapping):
            detail = f"{detail}: {body['error'].get('message', '')}".rstrip(": ")
        return RateLimitedError(
            detail, retry_after_s=retry_after_s(headers), provider=PROVIDER, http_status=429
        )
    if isinstance(body, Mapping) and body.get("error") is not None:
        return rpc_error(body["error"], http_status=status, retry_after=retry_after_s(headers))
    if status >= 500:
        return UpstreamServerError(f"HTTP {status}", provider=PROVIDER, http_status=status)
    if status in (401, 403):
        return ProviderAuthError(
            f"HTTP {status}: RPC endpoint refused the key", provider=PROVIDER, http_status=status
        )
    if status == 404:
        return UpstreamNotFoundError(
            "HTTP 404: no JSON-RPC service at this URL", provider=PROVIDER, http_status=404
        )
    if status >= 400:
        return UpstreamBadRequestError(f"HTTP {status}", provider=PROVIDER, http_status=status)
    if body is None:
        return MalformedResponseError("response is not JSON", provider=PROVIDER, http_status=status)
    if isinstance(body, list):
        return None
    if isinstance(body, Mapping) and "result" in body:
        return None
    return MalformedResponseError(
        "JSON-RPC response has neither result nor error", provider=PROVIDER, http_status=status
    )


async def _none() -> None:
    return None


def with_metaplex(info: AssetInfo, metaplex: MetaplexMetadata | None) -> AssetInfo:
    """`info` with what Metaplex adds: name and symbol where the mint itself states none."""
    source = "token-2022" if info.name or info.symbol else None
    if metaplex is None:
        return replace(info, metadata={**info.metadata, "source": source} if source else info.metadata)
    extra = {"source": source or "metaplex", "metaplex_update_authority": metaplex.update_authority}
    if metaplex.uri and "uri" not in info.metadata:
        extra["uri"] = metaplex.uri
    return replace(
        info,
        name=info.name or metaplex.name,
        symbol=info.symbol or metaplex.symbol,
        metadata={**info.metadata, **extra},
    )


class SolanaAdapter:
    """One method per JSON-RPC call walletsync makes; returns normalized types."""

    def __init__(
        self,
        transport: JsonTransport,
        *,
        commitment: Commitment = "finalized",
        metadata_cache_ttl_s: float = 3600.0,
        item_attempts: int = 4,
        item_backoff_s: float = 0.2,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        max_batch: int | None = None,
    ) -> None:
        self._transport = transport
        # The most calls a batch may hold (`ResilientClient.safe_cost`); None: no cap of our own.
        self.max_batch = max_batch
        self._commitment = commitment
        self._metadata_cache_ttl_s = metadata_cache_ttl_s
        self._item_attempts = max(1, item_attempts)
        self._item_backoff_s = item_backoff_s
        self._sleep = sleep

    @staticmethod
    def _request(method: str, params: list[Any], request_id: int = 1) -> dict[str, Any]:
        # Ids only pair answers with requests inside one HTTP exchange, so they restart at 1 for
        # every call: the same call then has the same body, which is what the client's cache keys on.
        return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}

    async def _call(self, method: str, params: list[Any], *, cache_ttl_s: float | None = None) -> Any:
        body = await self._transport.post_json(
            RPC_PATH, body=self._request(method, params), idempotent=True, cache_ttl_s=cache_ttl_s
        )
        return unwrap_result(body)

    async def signatures(
        self, address: str, *, before: str | None = None, until: str | None = None, limit: int = 1000
    ) -> list[TxRef]:
        """Signatures involving `address`, newest first: those older than `before`, newer than `until`.

        At most `limit` (1..1000) per call; page backwards by passing the last one as `before`.
        """
        options: dict[str, Any] = {"limit": limit, "commitment": self._commitment}
        if before is not None:
            options["before"] = before
        if until is not None:
            options["until"] = until
        return parse_signatures(await self._call("getSignaturesForAddress", [address, options]))

    async def transactions(self, signatures: Sequence[str]) -> list[ChainTx]:
        """The transactions of `signatures`, in the same order, fetched in JSON-RPC batches.

        The whole batch goes first; items that failed (a retryable item error, or `null` from a node
        lacking the transaction) are asked again, alone in a smaller batch, up to `item_attempts`
        times with a doubling pause (each request may go to another endpoint). A non-retryable item
        error raises at once, naming its signature; items still failing at the end raise
        `TransactionUnavailableError` naming each. Keep batches within what the endpoint accepts
        (public RPCs cap batch sizes; 100 is widely accepted).
        """
        found: dict[str, ChainTx] = {}
        pending = list(dict.fromkeys(signatures))
        delay = self._item_backoff_s
        for attempt in range(1, self._item_attempts + 1):
            failures = await self._batch(pending, found)
            if not failures:
                break
            pending = list(failures)
            if attempt == self._item_attempts:
                raise TransactionUnavailableError(failures, attempts=attempt, provider=PROVIDER)
            log.info("solana.transactions.retry", failed=len(failures), attempt=attempt, delay_s=delay)
            await self._sleep(delay)
            delay *= 2
        return [found[signature] for signature in signatures]

    async def vanished(self, signatures: Sequence[str]) -> set[str]:
        """Which of `signatures` the node no longer has at the adapter's commitment (asked twice,
        so one lagging node does not retract a transaction); item errors raise as in `transactions`."""
        missing = list(signatures)
        for _ in range(2):
            found: dict[str, ChainTx] = {}
            failures = await self._batch(missing, found)
            errors = {s: r for s, r in failures.items() if not r.startswith("null")}
            if errors:
                raise TransactionUnavailableError(errors, attempts=1, provider=PROVIDER)
            missing = [s for s in missing if s in failures]
            if not missing:
                break
        return set(missing)

    async def _batch(self, signatures: Sequence[str], found: dict[str, ChainTx]) -> dict[str, str]:
        """One batch of `getTransaction`: fill `found`; return the retryable failures by signature."""
        if not signatures:
            return {}
        options = {
            "encoding": "jsonParsed",
            "maxSupportedTransactionVersion": 0,
            "commitment": self._commitment,
        }
        requests = [
            self._request("getTransaction", [signature, options], request_id)
            for request_id, signature in enumerate(signatures, start=1)
        ]
        body = await self._transport.post_json(RPC_PATH, body=requests, idempotent=True, cost=len(requests))
        if isinstance(body, Mapping):
            # Some nodes answer a whole batch with one error object (e.g. batch too large).
            unwrap_result(body)
            raise MalformedResponseError("batch request answered with a single object", provider=PROVIDER)
        if not isinstance(body, list):
            raise MalformedResponseError("batch response is not a list", provider=PROVIDER)
        by_id = {item.get("id"): item for item in body if isinstance(item, Mapping)}
        failures: dict[str, str] = {}
        for request, signature in zip(requests, signatures, strict=True):
            item = by_id.get(request["id"])
            if item is None:
                failures[signature] = f"batch response lacks id {request['id']}"
            elif item.get("error") is not None:
                error = rpc_error(item["error"])
                if not error.retryable:
                    error.detail = f"getTransaction {signature}: {error.detail}"
                    error.args = (error.detail,)
                    raise error
                failures[signature] = error.detail.removeprefix(f"{PROVIDER}: ")
            elif item.get("result") is None:
                failures[signature] = "null: the node does not have it"
            else:
                found[signature] = normalize_solana_tx(item["result"])
        return failures

    async def transaction(self, signature: str) -> ChainTx:
        """One transaction (a batch of one)."""
        return (await self.transactions([signature]))[0]

    async def balance(self, address: str) -> int:
        """Lamports held by `address` now."""
        result = await self._call("getBalance", [address, {"commitment": self._commitment}])
        try:
            return u64(result["value"], "getBalance value")
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedResponseError(f"bad getBalance result ({exc!r})", provider=PROVIDER) from exc

    async def token_accounts(self, owner: str) -> list[TokenAccount]:
        """Every SPL Token and Token-2022 account of `owner` with its raw amount, by (mint, account).

        A node that does not know the Token-2022 program (it answers -32602 "unrecognized Token
        program id") has no such accounts to report, so that answer counts as none.
        """
        options = {"encoding": "jsonParsed", "commitment": self._commitment}

        async def by_program(program: str) -> list[TokenAccount]:
            try:
                result = await self._call("getTokenAccountsByOwner", [owner, {"programId": program}, options])
            except UpstreamBadRequestError as exc:
                if program == TOKEN_2022_PROGRAM and "unrecognized token program id" in exc.detail.lower():
                    return []
                raise
            return parse_token_accounts(result)

        results = await asyncio.gather(by_program(TOKEN_PROGRAM), by_program(TOKEN_2022_PROGRAM))
        return sorted((a for accounts in results for a in accounts), key=lambda a: (a.mint, a.account))

    async def mint_info(self, mint: str, *, fresh: bool = False) -> AssetInfo:
        """Decimals, name and symbol of a mint; `"native"` is SOL itself.

        Two accounts are read concurrently: the mint (jsonParsed: decimals, and for a Token-2022
        mint its token-metadata extension) and its Metaplex metadata PDA (base64, parsed in
        `metaplex`). Name and symbol: the Token-2022 extension first (the mint's own statement),
        then Metaplex. A metadata account that is not readable is logged and ignored: a token
        without a name is shown by its mint, never fails a sync. `fresh` skips the client's
        metadata cache (the periodic refresh must see changes).
        """
        if mint == NATIVE:
            return native_asset()
        ttl = None if fresh else self._metadata_cache_ttl_s
        parsed = {"encoding": "jsonParsed", "commitment": self._commitment}
        binary = {"encoding": "base64", "commitment": self._commitment}
        try:
            pda: str | None = metadata_address(mint)
        except ValueError:
            pda = None  # not a public key: the mint lookup below says what it is
        mint_result, metadata_result = await asyncio.gather(
            self._call("getAccountInfo", [mint, parsed], cache_ttl_s=ttl),
            self._call("getAccountInfo", [pda, binary], cache_ttl_s=ttl) if pda else _none(),
        )
        try:
            metaplex = metadata_from_account(metadata_result, mint)
        except MetadataFormatError as exc:
            log.warning("solana.metaplex.unreadable", mint=mint, error=str(exc))
            metaplex = None
        try:
            info = parse_mint_info(mint, mint_result)
        except UpstreamNotFoundError:
            if metaplex is None:
                raise
            # The mint account is gone (closed) but its metadata is not: the name still holds.
            info = AssetInfo(chain=Chain.SOLANA, asset_key=mint, symbol=None, name=None, decimals=None)
        return with_metaplex(info, metaplex)

    @property
    def commitment(self) -> Commitment:
        return self._commitment

    async def slot(self, commitment: Commitment | None = None) -> int:
        """The current slot at `commitment` (the adapter's own by default)."""
        result = await self._call("getSlot", [{"commitment": commitment or self._commitment}])
        if not isinstance(result, int):
            raise MalformedResponseError(f"getSlot result is not an integer: {result!r}", provider=PROVIDER)
        return result

    async def stake_accounts(self, authority: str) -> list[StakePosition]:
        """Stake accounts whose staker or withdrawer authority is `authority`, each once, with its
        lamports (`providers.staking`: two filtered `getProgramAccounts` calls, run concurrently)."""
        options: dict[str, Any] = {"encoding": "jsonParsed", "commitment": self._commitment}

        async def by(offset: int) -> list[StakePosition]:
            filters = stake_account_filters(authority, offset)
            result = await self._call("getProgramAccounts", [STAKE_PROGRAM, {**options, "filters": filters}])
            return parse_stake_accounts(result, authority, provider=PROVIDER)

        staker, withdrawer = await asyncio.gather(by(STAKER_OFFSET), by(WITHDRAWER_OFFSET))
        return merge_stake_accounts(staker, withdrawer)
