"""Faults inside a well-formed 200 body: failed items of a JSON-RPC batch, amounts of the wrong type.

What real nodes do that a whole-response fault (5xx, truncated JSON) does not cover:
- one call of a JSON-RPC batch answered with an error (`-32005 node behind`) while the others
  succeed, or `getTransaction` answered `result: null` by a node that lacks the transaction (or,
  for `missing_signatures`, by every node, for good);
- a body whose JSON is valid but one amount has the wrong type: a Blockfrost `quantity` (a
  decimal-digit string) sent as the number 12.5, a Solana lamport balance (a u64 integer) sent as
  `true`, `1.5e30`, a negative number or 2**64.

Pure functions of a parsed body and a `random.Random`; `FaultInjector.rewrite` applies them.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

NODE_BEHIND = {"code": -32005, "message": "Node is behind by 42 slots", "data": {"numSlotsBehind": 42}}

# Values a u64 amount must never be read as: a bool, a float, a huge float, out of range both ways.
SOLANA_WRONG: tuple[object, ...] = (True, 1.5e30, 12.5, -1, 2**64, "5000")
# Values a Blockfrost quantity (a string of decimal digits) must never be read as.
BLOCKFROST_WRONG: tuple[object, ...] = (12.5, 12, True, "12.5", "-3", "1e6", "")


def rpc_items(
    calls: Any,
    replies: Any,
    *,
    error_rate: float,
    null_rate: float,
    missing: frozenset[str],
    rng: random.Random,
) -> tuple[Any, int]:
    """`replies` with getTransaction items failed at the given rates; and how many were failed."""
    pairs = list(zip(calls, replies, strict=False)) if isinstance(calls, list) else [(calls, replies)]
    failed = 0
    for call, reply in pairs:
        if not isinstance(call, dict) or call.get("method") != "getTransaction" or "result" not in reply:
            continue
        params = call.get("params") or [None]
        if params[0] in missing or rng.random() < null_rate:
            reply["result"] = None
            failed += 1
        elif rng.random() < error_rate:
            del reply["result"]
            reply["error"] = dict(NODE_BEHIND)
            failed += 1
    return replies, failed


def _solana_slots(body: Any) -> Iterator[tuple[Any, Any]]:
    """(container, key) of every amount in getTransaction results of a reply (single or batch)."""
    for reply in body if isinstance(body, list) else [body]:
        result = reply.get("result") if isinstance(reply, dict) else None
        meta = result.get("meta") if isinstance(result, dict) else None
        if not isinstance(meta, dict):
            continue
        for side in ("preBalances", "postBalances"):
            for index in range(len(meta.get(side) or ())):
                yield meta[side], index
        yield meta, "fee"


def _blockfrost_slots(body: Any) -> Iterator[tuple[Any, Any]]:
    """(container, key) of every quantity in a `/txs/{hash}/utxos` or `/addresses/{a}` body."""
    if not isinstance(body, dict):
        return
    for side in ("inputs", "outputs"):
        for utxo in body.get(side) or ():
            for amount in utxo.get("amount") or ():
                yield amount, "quantity"
    for amount in body.get("amount") or ():
        if isinstance(amount, dict):
            yield amount, "quantity"


def wrong_type(provider: str, body: Any, rng: random.Random) -> bool:
    """Give one amount of `body` (in place) a wrong type; False when the body has no amount."""
    slots: Callable[[Any], Iterator[tuple[Any, Any]]]
    wrong: tuple[object, ...]
    if provider == "solana":
        slots, wrong = _solana_slots, SOLANA_WRONG
    elif provider == "blockfrost":
        slots, wrong = _blockfrost_slots, BLOCKFROST_WRONG
    else:
        return False
    found = list(slots(body))
    if not found:
        return False
    container, key = rng.choice(found)
    container[key] = rng.choice(wrong)
    return True
