"""Cardano adapter over Blockfrost: page an address's transactions, fetch and normalize them, read holdings.

A transaction's deltas come from its resolved UTxOs (`/txs/{hash}/utxos`): per (address, unit), what
its outputs create minus what its inputs spend. `classify_error` maps Blockfrost's error bodies
(`{status_code, error, message}`) to the typed provider errors.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from walletsync.config import Chain
from walletsync.providers.amounts import AmountError, digits_u64
from walletsync.providers.cardano_assets import parse_asset
from walletsync.providers.errors import (
    BannedError,
    MalformedResponseError,
    ProviderAuthError,
    ProviderError,
    QuotaExceededError,
    RateLimitedError,
    TransientProviderError,
    UpstreamBadRequestError,
    UpstreamNotFoundError,
    UpstreamServerError,
)
from walletsync.providers.headers import retry_after_s
from walletsync.providers.staking import StakePosition, parse_rewards, parse_stake_address
from walletsync.providers.types import (
    NATIVE,
    AssetInfo,
    BalanceDelta,
    ChainTx,
    HeldAsset,
    JsonTransport,
    TxRef,
)

__all__ = [
    "CardanoAdapter",
    "MempoolFullError",
    "classify_error",
    "normalize_cardano_tx",
    "parse_asset",
]

PROVIDER = "blockfrost"
LOVELACE = "lovelace"
ADA_DECIMALS = 6
PAGE_SIZE = 100  # Blockfrost's maximum `count`


class MempoolFullError(TransientProviderError):
    """Blockfrost 425: the mempool (or IPFS pin queue) is full; resubmitting later can succeed."""

    status = 503


_BY_STATUS: dict[int, type[ProviderError]] = {
    400: UpstreamBadRequestError,
    401: ProviderAuthError,
    402: QuotaExceededError,
    403: ProviderAuthError,
    404: UpstreamNotFoundError,
    418: BannedError,
    425: MempoolFullError,
}


def classify_error(status: int, body: Any, headers: Mapping[str, str]) -> ProviderError | None:
    """The typed error a Blockfrost response means, or None for a usable 2xx JSON body."""
    if 200 <= status < 300:
        if body is None:
            return MalformedResponseError("response is not JSON", provider=PROVIDER, http_status=status)
        return None
    detail = f"HTTP {status}"
    if isinstance(body, Mapping) and (body.get("error") or body.get("message")):
        detail = f"{status} {body.get('error') or ''}: {body.get('message') or ''}".strip(": ")
    kwargs: dict[str, Any] = {"provider": PROVIDER, "http_status": status}
    if status == 429:
        return RateLimitedError(detail, retry_after_s=retry_after_s(headers), **kwargs)
    if status >= 500:
        return UpstreamServerError(detail, **kwargs)
    return _BY_STATUS.get(status, UpstreamBadRequestError)(detail, **kwargs)


def _asset_key(unit: str) -> str:
    return NATIVE if unit == LOVELACE else unit


def units_moved(utxos: Any, owners: frozenset[str]) -> set[str]:
    """Asset keys of every amount at `owners`' addresses among a `/txs/{hash}/utxos` body's inputs and
    outputs: the assets the transaction may change their balances of (a superset: collateral,
    reference inputs and net-zero moves included). Nothing for a body that is not one."""
    units: set[str] = set()
    if not isinstance(utxos, Mapping):
        return units
    for side in ("inputs", "outputs"):
        entries = utxos.get(side)
        for utxo in entries if isinstance(entries, list) else ():
            if isinstance(utxo, Mapping) and utxo.get("address") in owners:
                amounts = utxo.get("amount")
                for amount in amounts if isinstance(amounts, list) else ():
                    if isinstance(amount, Mapping) and isinstance(amount.get("unit"), str):
                        units.add(_asset_key(amount["unit"]))
    return units


def normalize_cardano_tx(tx: Mapping[str, Any], utxos: Mapping[str, Any]) -> ChainTx:
    """`/txs/{hash}` and `/txs/{hash}/utxos` bodies of one transaction as a `ChainTx`.

    A valid transaction spends its regular inputs and creates its regular outputs; collateral is
    untouched. A transaction whose scripts failed (`valid_contract: false`) is still on chain, but
    only its collateral inputs are spent and only its collateral-return output is created.
    Reference inputs are read, never spent.
    """
    try:
        return _normalize(tx, utxos)
    except AmountError as exc:
        tx_id = utxos.get("hash") or tx.get("hash") or "?"
        raise MalformedResponseError(f"transaction {tx_id}: {exc}", provider=PROVIDER) from exc
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise MalformedResponseError(
            f"not a Blockfrost tx/utxos pair ({type(exc).__name__}: {exc})", provider=PROVIDER
        ) from exc


def _normalize(tx: Mapping[str, Any], utxos: Mapping[str, Any]) -> ChainTx:
    tx_id = utxos.get("hash") or tx["hash"]
    if tx.get("hash") and tx["hash"] != tx_id:
        raise ValueError(f"/txs is {tx['hash']} but /utxos is {tx_id}")
    valid = tx.get("valid_contract", True) is not False
    sums: dict[tuple[str, str], int] = defaultdict(int)
    spenders: set[str] = set()
    for sign, side in ((-1, "inputs"), (1, "outputs")):
        for position, utxo in enumerate(utxos[side]):
            # Every quantity is checked, counted or not: a wrong type anywhere means a broken body.
            quantities = [
                digits_u64(amount["quantity"], f"{side}[{position}].amount[{k}].quantity")
                for k, amount in enumerate(utxo["amount"])
            ]
            if utxo.get("reference"):
                continue
            # Counted when it is collateral exactly when the scripts failed.
            if bool(utxo.get("collateral")) == valid:
                continue
            if side == "inputs":
                spenders.add(utxo["address"])
            for amount, quantity in zip(utxo["amount"], quantities, strict=True):
                sums[(utxo["address"], _asset_key(amount["unit"]))] += sign * quantity
    # The fee comes out of the spent inputs (the collateral when the scripts failed). Of the addresses
    # spending, the one whose ADA goes down the most funds it: a script's pool input spent in the
    # same transaction gets its ADA back, the buyer's goes down by the price plus the fee.
    fee_payer = min(spenders, key=lambda a: (sums[(a, NATIVE)], a)) if spenders else None
    block_time = tx.get("block_time")
    height = tx.get("block_height")
    return ChainTx(
        chain=Chain.CARDANO,
        tx_id=tx_id,
        height=int(height) if height is not None else None,
        block_time=datetime.fromtimestamp(block_time, tz=UTC) if block_time is not None else None,
        fee=digits_u64(tx["fees"], "fees"),
        success=valid,
        fee_payer=fee_payer,
        block_hash=str(tx["block"]) if tx.get("block") else None,
        deltas=tuple(
            BalanceDelta(owner=owner, asset=asset, amount=amount)
            for (owner, asset), amount in sorted(sums.items())
            if amount != 0
        ),
        raw={"tx": dict(tx), "utxos": dict(utxos)},
    )


def native_asset() -> AssetInfo:
    """ADA itself, in lovelace."""
    return AssetInfo(
        chain=Chain.CARDANO, asset_key=NATIVE, symbol="ADA", name="Cardano", decimals=ADA_DECIMALS
    )


class CardanoAdapter:
    """One method per Blockfrost call walletsync makes; returns normalized types."""

    def __init__(self, transport: JsonTransport, *, metadata_cache_ttl_s: float = 3600.0) -> None:
        self._transport = transport
        self._metadata_cache_ttl_s = metadata_cache_ttl_s

    async def transactions_page(
        self, address: str, *, after: tuple[int, int] | None = None, count: int = PAGE_SIZE
    ) -> list[TxRef]:
        """Up to `count` transactions of `address` strictly after (block height, tx index) `after`, oldest first.

        Uses Blockfrost's inclusive `from=<height>:<index>` and drops what is not after `after`, so a
        page can hold one entry fewer than `count`: only an empty page means the address is caught up.
        A never-used address (404) has no transactions.
        """
        params: dict[str, str | int] = {"order": "asc", "count": count}
        if after is not None:
            params["from"] = f"{after[0]}:{after[1]}"
        try:
            rows = await self._transport.get_json(
                f"/addresses/{quote(address, safe='')}/transactions", params=params
            )
        except UpstreamNotFoundError:
            return []
        try:
            refs = [
                TxRef(
                    tx_id=row["tx_hash"],
                    height=int(row["block_height"]),
                    index=int(row["tx_index"]),
                    block_time=datetime.fromtimestamp(row["block_time"], tz=UTC),
                )
                for row in rows
            ]
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedResponseError(
                f"bad address transactions page ({exc!r})", provider=PROVIDER
            ) from exc
        if after is not None:
            refs = [ref for ref in refs if (ref.height, ref.index) > after]
        return refs

    async def transaction(self, tx_hash: str) -> ChainTx:
        """One transaction, its body and UTxOs fetched concurrently."""
        tx, utxos = await asyncio.gather(self.tx_body(tx_hash), self.tx_utxos(tx_hash))
        return normalize_cardano_tx(tx, utxos)

    async def tx_body(self, tx_hash: str) -> Any:
        """`/txs/{hash}`, as sent (one half of `normalize_cardano_tx`'s input)."""
        return await self._transport.get_json(f"/txs/{quote(tx_hash, safe='')}")

    async def tx_utxos(self, tx_hash: str) -> Any:
        """`/txs/{hash}/utxos`, as sent (the other half)."""
        return await self._transport.get_json(f"/txs/{quote(tx_hash, safe='')}/utxos")

    async def block_of(self, tx_hash: str) -> str | None:
        """The hash of the block holding `tx_hash` now, or None when the chain no longer has it."""
        try:
            body = await self._transport.get_json(f"/txs/{quote(tx_hash, safe='')}")
        except UpstreamNotFoundError:
            return None
        block = body.get("block") if isinstance(body, Mapping) else None
        if not isinstance(block, str) or not block:
            raise MalformedResponseError(f"transaction {tx_hash}: no block hash", provider=PROVIDER)
        return block

    async def address_amounts(self, address: str) -> list[HeldAsset]:
        """What `address` holds now, lovelace as `"native"`; empty for a never-used address."""
        try:
            body = await self._transport.get_json(f"/addresses/{quote(address, safe='')}")
        except UpstreamNotFoundError:
            return []
        try:
            return [
                HeldAsset(
                    asset=_asset_key(a["unit"]), amount=digits_u64(a["quantity"], f"amount[{k}].quantity")
                )
                for k, a in enumerate(body["amount"])
            ]
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedResponseError(f"bad address body ({exc!r})", provider=PROVIDER) from exc

    async def asset(self, unit: str, *, fresh: bool = False) -> AssetInfo:
        """Name, ticker and decimals of a native asset (`cardano_assets` tells from where); cached
        unless `fresh` (the periodic refresh). `"native"`/`"lovelace"` is ADA itself."""
        if unit in (NATIVE, LOVELACE):
            return native_asset()
        body = await self._transport.get_json(
            f"/assets/{quote(unit, safe='')}", cache_ttl_s=None if fresh else self._metadata_cache_ttl_s
        )
        if not isinstance(body, Mapping):
            raise MalformedResponseError("asset body is not an object", provider=PROVIDER)
        return parse_asset(unit, body)

    async def tip_height(self) -> int:
        """Height of the latest block."""
        body = await self._transport.get_json("/blocks/latest")
        try:
            return int(body["height"])
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedResponseError(f"bad latest block body ({exc!r})", provider=PROVIDER) from exc

    async def account_addresses(self, stake_address: str) -> list[str]:
        """Every address Blockfrost associates with a stake address (all pages); empty when unknown."""
        addresses: list[str] = []
        for page in range(1, 1_000_000):
            try:
                rows = await self._transport.get_json(
                    f"/accounts/{quote(stake_address, safe='')}/addresses",
                    params={"page": page, "count": PAGE_SIZE},
                )
            except UpstreamNotFoundError:
                break
            try:
                addresses.extend(row["address"] for row in rows)
            except (KeyError, TypeError) as exc:
                raise MalformedResponseError(
                    f"bad account addresses page ({exc!r})", provider=PROVIDER
                ) from exc
            if len(rows) < PAGE_SIZE:
                break
        return addresses

    async def stake_address(self, address: str) -> str | None:
        """The stake address of a payment address (None: no stake key, or a never-used address)."""
        try:
            body = await self._transport.get_json(f"/addresses/{quote(address, safe='')}")
        except UpstreamNotFoundError:
            return None
        return parse_stake_address(body, provider=PROVIDER)

    async def rewards(self, stake_address: str) -> StakePosition | None:
        """The stake address's unwithdrawn rewards (`withdrawable_amount`); None when Blockfrost does
        not know the stake address (never registered on chain)."""
        try:
            body = await self._transport.get_json(f"/accounts/{quote(stake_address, safe='')}")
        except UpstreamNotFoundError:
            return None
        return parse_rewards(stake_address, body, provider=PROVIDER)
