"""Blockfrost (Cardano) REST routes over the synthetic chain, shaped like the OpenAPI spec.

Routes: /addresses/{address}, /addresses/{address}/transactions (count, page, order, from, to),
/txs/{hash}, /txs/{hash}/utxos, /assets/{asset}, /accounts/{stake} (reward account,
`simulator.staking`), /accounts/{stake}/addresses, /blocks/latest. Quantities, fees and deposits are
strings; counts and heights integers; errors are {status_code, error, message}. With a project id
configured, a request without the matching `project_id` header gets the real 403 body.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import Any

from walletsync.simulator.cardano_chain import CardanoChain
from walletsync.simulator.cardano_records import (
    CardanoTx,
    InputRef,
    Output,
    block_hash,
    block_slot,
    block_time,
)
from walletsync.simulator.encoding import bech32_decode
from walletsync.simulator.staking import CardanoRewards
from walletsync.simulator.wire import SimRequest, SimResponse, json_response

_ERRORS = {
    400: ("Bad Request", "Backend did not understand your request."),
    403: ("Forbidden", "Invalid project token."),
    404: ("Not Found", "The requested component has not been found."),
    405: ("Method Not Allowed", "The method is not allowed for the requested URL."),
    429: ("Project Over Limit", "Usage is over limit."),
    500: ("Internal Server Error", "An unexpected response was received from the backend."),
    503: ("Service Unavailable", "The service is temporarily unavailable."),
}


def error_response(
    status: int, message: str | None = None, headers: tuple[tuple[str, str], ...] = ()
) -> SimResponse:
    error, default = _ERRORS[status]
    body = {"status_code": status, "error": error, "message": message or default}
    return json_response(body, status, headers)


_MAX_INDEX = 1 << 31


class _BadRequest(Exception):
    pass


def _int_param(query: dict[str, str] | Any, name: str, default: int, lo: int, hi: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _BadRequest(f"querystring/{name} must be integer") from None
    if not lo <= value <= hi:
        raise _BadRequest(f"querystring/{name} must be >= {lo} and <= {hi}")
    return value


def _bound(text: str, name: str) -> tuple[int, int | None]:
    block, _, index = text.partition(":")
    try:
        return int(block), (int(index) if index else None)
    except ValueError:
        raise _BadRequest(f"querystring/{name} must be block or block:index") from None


class Blockfrost:
    """The Blockfrost handler for one chain; `project_id` enables authentication."""

    name = "blockfrost"

    def __init__(self, chain: CardanoChain, project_id: str | None = None) -> None:
        self.chain = chain
        self.project_id = project_id

    # --- ProviderHandler --------------------------------------------------------------------

    def cost(self, request: SimRequest) -> int:
        return 1

    def rate_limited(self, retry_after_s: int) -> SimResponse:
        return error_response(429, headers=(("retry-after", str(retry_after_s)),))

    def server_error(self, status: int) -> SimResponse:
        return error_response(status)

    def handle(self, request: SimRequest) -> SimResponse:
        if self.project_id is not None and request.headers.get("project_id") != self.project_id:
            return error_response(403)
        if request.method != "GET":
            return error_response(405)
        parts = [p for p in request.path.split("/") if p]
        try:
            match parts:
                case ["addresses", address]:
                    return self.address(address)
                case ["addresses", address, "transactions"]:
                    return self.address_transactions(address, request.query)
                case ["txs", tx_hash]:
                    return self.tx(tx_hash)
                case ["txs", tx_hash, "utxos"]:
                    return self.tx_utxos(tx_hash)
                case ["assets", unit]:
                    return self.asset(unit)
                case ["accounts", stake]:
                    return self.account(stake)
                case ["accounts", stake, "addresses"]:
                    return self.account_addresses(stake, request.query)
                case ["blocks", "latest"]:
                    return json_response(self.latest_block())
                case _:
                    return error_response(404)
        except _BadRequest as exc:
            return error_response(400, str(exc))

    # --- routes -----------------------------------------------------------------------------

    def _address_index(self, address: str) -> int | None:
        try:
            hrp, _ = bech32_decode(address)
        except ValueError:
            raise _BadRequest("Invalid address for this network.") from None
        if hrp != "addr":
            raise _BadRequest("Invalid address for this network.")
        return self.chain.address_index.get(address)

    def address(self, address: str) -> SimResponse:
        idx = self._address_index(address)
        if idx is None:
            return error_response(404)
        chain = self.chain
        totals = chain.amounts(idx)
        lovelace = totals.pop("lovelace")
        amount = [{"unit": "lovelace", "quantity": str(lovelace)}]
        amount += [{"unit": u, "quantity": str(q)} for u, q in sorted(totals.items()) if q]
        return json_response(
            {
                "address": address,
                "amount": amount,
                "stake_address": chain.stake_addresses[idx],
                "type": "shelley",
                "script": chain.scripts[idx],
            }
        )

    def address_transactions(self, address: str, query: Any) -> SimResponse:
        idx = self._address_index(address)
        count = _int_param(query, "count", 100, 1, 100)
        page = _int_param(query, "page", 1, 1, 21_474_836)
        order = query.get("order", "asc")
        if order not in ("asc", "desc"):
            raise _BadRequest("querystring/order must be equal to one of the allowed values")
        lower = _bound(query["from"], "from") if "from" in query else None
        upper = _bound(query["to"], "to") if "to" in query else None
        txs = self.chain.txs
        ids = self.chain.address_txs.get(idx, []) if idx is not None else []

        # ids are in chain order, so the from/to window is one slice found by bisection
        def position(t: int) -> tuple[int, int]:
            return txs[t].height, txs[t].tx_index

        start = bisect_left(ids, (lower[0], lower[1] or 0), key=position) if lower else 0
        end = (
            bisect_right(ids, (upper[0], _MAX_INDEX if upper[1] is None else upper[1]), key=position)
            if upper
            else len(ids)
        )
        selected = ids[start:end]
        if order == "desc":
            selected = selected[::-1]
        window = selected[(page - 1) * count : page * count]
        return json_response(
            [
                {
                    "tx_hash": txs[t].hash,
                    "tx_index": txs[t].tx_index,
                    "block_height": txs[t].height,
                    "block_time": block_time(txs[t].height),
                }
                for t in window
            ]
        )

    def account_addresses(self, stake: str, query: Any) -> SimResponse:
        """`/accounts/{stake}/addresses`: the addresses under a stake key, `count` per `page`."""
        count = _int_param(query, "count", 100, 1, 100)
        page = _int_param(query, "page", 1, 1, 21_474_836)
        indices = self.chain.stake_addresses_of(stake)
        if not indices:
            return error_response(404)
        window = indices[(page - 1) * count : page * count]
        return json_response([{"address": self.chain.addresses[i]} for i in window])

    def account(self, stake: str) -> SimResponse:
        """`/accounts/{stake}`: the reward account (`simulator.staking`); 404 when never registered."""
        rewards = CardanoRewards.of(self.chain)
        if rewards.refuse is not None:
            return error_response(rewards.refuse)
        liquid = sum(self.chain.amounts(i)["lovelace"] for i in self.chain.stake_addresses_of(stake))
        body = rewards.body(stake, liquid)
        return error_response(404) if body is None else json_response(body)

    def _tx(self, tx_hash: str) -> CardanoTx | None:
        idx = self.chain.hash_index.get(tx_hash.lower())
        return self.chain.txs[idx] if idx is not None else None

    def _amount(self, out: Output) -> list[dict[str, str]]:
        assets = self.chain.assets
        amount = [{"unit": "lovelace", "quantity": str(out.lovelace)}]
        amount += [{"unit": assets[a].unit, "quantity": str(q)} for a, q in out.assets]
        return amount

    def tx(self, tx_hash: str) -> SimResponse:
        tx = self._tx(tx_hash)
        if tx is None:
            return error_response(404)
        totals: dict[str, int] = {"lovelace": 0}
        assets = self.chain.assets
        for out in tx.outputs:
            totals["lovelace"] += out.lovelace
            for a, q in out.assets:
                totals[assets[a].unit] = totals.get(assets[a].unit, 0) + q
        slot = block_slot(tx.height)
        return json_response(
            {
                "hash": tx.hash,
                "block": self.chain.block_hash(tx.height),
                "block_height": tx.height,
                "block_time": block_time(tx.height),
                "slot": slot,
                "index": tx.tx_index,
                "output_amount": [{"unit": u, "quantity": str(q)} for u, q in totals.items()],
                "fees": str(tx.fee),
                "deposit": "0",
                "size": tx.size,
                "invalid_before": None,
                "invalid_hereafter": str(slot + 7200),
                "utxo_count": len(tx.inputs) + len(tx.outputs),
                "withdrawal_count": 0,
                "mir_cert_count": 0,
                "delegation_count": 0,
                "stake_cert_count": 0,
                "pool_update_count": 0,
                "pool_retire_count": 0,
                "asset_mint_or_burn_count": 0,
                "redeemer_count": tx.redeemer_count,
                "valid_contract": tx.valid,
                "treasury_donation": "0",
            }
        )

    def _input(self, ref: InputRef) -> dict[str, Any]:
        out = ref.output
        return {
            "address": self.chain.addresses[out.address],
            "amount": self._amount(out),
            "tx_hash": ref.tx_hash,
            "output_index": ref.output_index,
            "data_hash": out.data_hash,
            "inline_datum": out.inline_datum,
            "reference_script_hash": ref.reference_script_hash,
            "collateral": ref.collateral,
            "reference": ref.reference,
        }

    def tx_utxos(self, tx_hash: str) -> SimResponse:
        tx = self._tx(tx_hash)
        if tx is None:
            return error_response(404)
        consumed = self.chain.consumed_by
        outputs = [
            {
                "address": self.chain.addresses[out.address],
                "amount": self._amount(out),
                "output_index": n,
                "data_hash": out.data_hash,
                "inline_datum": out.inline_datum,
                "collateral": not tx.valid,
                "reference_script_hash": None,
                "consumed_by_tx": consumed.get((tx.hash, n)),
            }
            for n, out in enumerate(tx.outputs)
        ]
        return json_response(
            {"hash": tx.hash, "inputs": [self._input(i) for i in tx.inputs], "outputs": outputs}
        )

    def asset(self, unit: str) -> SimResponse:
        idx = self.chain.asset_index.get(unit.lower())
        if idx is None:
            if len(unit) < 56 or any(c not in "0123456789abcdef" for c in unit.lower()):
                raise _BadRequest("Invalid or malformed asset format.")
            return error_response(404)
        a = self.chain.assets[idx]
        return json_response(
            {
                "asset": a.unit,
                "policy_id": a.policy_id,
                "asset_name": a.asset_name,
                "fingerprint": a.fingerprint,
                "quantity": str(a.quantity),
                "initial_mint_tx_hash": a.initial_mint_tx_hash,
                "mint_or_burn_count": 1,
                "onchain_metadata": a.onchain_metadata(),
                "onchain_metadata_standard": "CIP68v1" if a.onchain_metadata() else None,
                "onchain_metadata_extra": None,
                "metadata": a.metadata(),
            }
        )

    def latest_block(self) -> dict[str, Any]:
        seed = self.chain.seed
        height = self.chain.tip_height
        slot = block_slot(height)
        return {
            "time": block_time(height),
            "height": height,
            "hash": self.chain.block_hash(height),
            "slot": slot,
            "epoch": 208 + (slot - 4_492_800) // 432_000,
            "epoch_slot": (slot - 4_492_800) % 432_000,
            "slot_leader": "pool1pu5jlj4q9w9jlxeu370a3c9myx47md5j5m2str0naunn2qnikdy",
            "size": 3,
            "tx_count": 1,
            "output": "128314491794",
            "fees": "592661",
            "block_vrf": "vrf_vk1wf2k6lhujezqcfe00l6zetxpnmh9n6mwhpmhm0dvfh3fxgmdnrfqkms8ty",
            "op_cert": block_hash(seed, -height),
            "op_cert_counter": "18",
            "previous_block": self.chain.block_hash(height - 1),
            "next_block": None,
            "confirmations": 0,
        }
