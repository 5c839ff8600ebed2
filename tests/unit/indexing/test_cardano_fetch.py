"""`CardanoSource.fetch`: UTxOs first, assets named as soon as their UTxOs arrive.

Why it matters: asset metadata is looked up when a transaction names an asset. With each
transaction's two calls fetched together, a page larger than one wave of calls named some assets
only in its last wave, and their lookups added a round trip after it (bench/sync_latency.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any

from walletsync.indexing.sources import CardanoSource
from walletsync.providers.cardano import CardanoAdapter, units_moved
from walletsync.providers.types import NATIVE, TxRef

WALLET = "addr_test1wallet"
OTHER = "addr_test1other"
TOKEN = "ab" * 28 + "544f4b"  # policy id + hex name
N = 130  # more transactions than one wave of calls (64 in flight, 128 calls)
TOKEN_TX = 120  # the only transaction moving TOKEN, in the page's last wave


def _hash(i: int) -> str:
    return f"{i:064x}"


def _utxos(i: int) -> dict[str, Any]:
    received = [{"unit": "lovelace", "quantity": "2000000"}]
    if i == TOKEN_TX:
        received.append({"unit": TOKEN, "quantity": "5"})
    return {
        "hash": _hash(i),
        "inputs": [{"address": OTHER, "amount": [{"unit": "lovelace", "quantity": "3000000"}]}],
        "outputs": [
            {"address": WALLET, "amount": received},
            {"address": OTHER, "amount": [{"unit": "lovelace", "quantity": "800000"}]},
        ],
    }


def _body(i: int) -> dict[str, Any]:
    return {
        "hash": _hash(i),
        "block": f"{i:064x}",
        "block_height": 1000 + i,
        "block_time": 1_700_000_000 + i,
        "fees": "200000",
        "valid_contract": True,
    }


class RecordingTransport:
    """Answers `/txs/{hash}/utxos` at once and `/txs/{hash}` only once `answer_bodies` is set,
    recording the order of calls."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.by_hash = {_hash(i): i for i in range(N)}
        self.answer_bodies = asyncio.Event()

    async def get_json(
        self,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        cache_ttl_s: float | None = None,
        cost: int = 1,
    ) -> Any:
        self.started.append(path)
        parts = path.strip("/").split("/")
        i = self.by_hash[parts[1]]
        if parts[-1] == "utxos":
            await asyncio.sleep(0)
            return _utxos(i)
        await self.answer_bodies.wait()
        return _body(i)

    async def post_json(self, path: str, *, body: Any, **_: Any) -> Any:
        raise AssertionError("no POST expected")


async def test_utxos_are_asked_first_and_name_assets_before_the_bodies_arrive() -> None:
    transport = RecordingTransport()
    source = CardanoSource(CardanoAdapter(transport), WALLET, concurrency=64, safety_depth=0)
    hinted: set[str] = set()

    def on_assets(keys: Iterable[str]) -> None:
        hinted.update(keys)
        if TOKEN in hinted:
            # No body has answered yet: the lookup starts before any body is needed. (Fetched in
            # pairs, the token was named only once its transaction's body answered: a deadlock.)
            transport.answer_bodies.set()

    refs = [TxRef(tx_id=_hash(i), height=1000 + i) for i in range(N)]
    txs = await asyncio.wait_for(source.fetch(refs, on_assets=on_assets), timeout=10)

    kinds = ["utxos" if p.endswith("/utxos") else "body" for p in transport.started]
    assert kinds == ["utxos"] * N + ["body"] * N
    assert hinted == {NATIVE, TOKEN}
    assert [tx.tx_id for tx in txs] == [_hash(i) for i in range(N)]
    token_tx = txs[TOKEN_TX]
    assert {(d.owner, d.asset, d.amount) for d in token_tx.deltas} == {
        (WALLET, NATIVE, 2_000_000),
        (WALLET, TOKEN, 5),
        (OTHER, NATIVE, 800_000 - 3_000_000),
    }
    assert token_tx.fee == 200_000
    assert token_tx.height == 1000 + TOKEN_TX


def test_units_moved_reads_the_owners_amounts_only() -> None:
    body = _utxos(TOKEN_TX)
    assert units_moved(body, frozenset({WALLET})) == {NATIVE, TOKEN}
    assert units_moved(body, frozenset({OTHER})) == {NATIVE}
    assert units_moved(body, frozenset({"addr_test1nobody"})) == set()
    for broken in (None, [], {"inputs": "x"}, {"outputs": [{"address": WALLET, "amount": "x"}]}):
        assert units_moved(broken, frozenset({WALLET})) == set()
