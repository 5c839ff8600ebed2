"""Helpers for simulator tests: JSON shape comparison and direct calls into the handlers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from walletsync.simulator.blockfrost import Blockfrost
from walletsync.simulator.solana_rpc import SolanaRpc
from walletsync.simulator.twelvedata import TwelveData
from walletsync.simulator.wire import SimRequest, SimResponse


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def assert_same_shape(
    sim: Any,
    real: Any,
    path: str = "$",
    *,
    skip: frozenset[str] = frozenset(),
    nullable: frozenset[str] = frozenset(),
) -> None:
    """Every key of `real` is in `sim` with the same JSON type, recursively (lists: first items).

    A null in the real body matches anything (the field is nullable); `skip` lists paths whose
    difference is known and documented, `nullable` paths where the simulator may send null.
    """
    if path in skip or real is None:
        return
    if sim is None:
        assert path in nullable, f"{path}: simulator sent null, real has {json_type(real)}"
        return
    assert json_type(sim) == json_type(real), f"{path}: {json_type(sim)} != {json_type(real)}"
    if isinstance(real, dict):
        missing = [k for k in real if k not in sim and f"{path}.{k}" not in skip]
        assert not missing, f"{path}: simulator lacks keys {missing}"
        for key, value in real.items():
            if key in sim:
                assert_same_shape(sim[key], value, f"{path}.{key}", skip=skip, nullable=nullable)
    elif isinstance(real, list) and real and sim:
        assert_same_shape(sim[0], real[0], f"{path}[]", skip=skip, nullable=nullable)


def load(real_responses: Path, name: str) -> Any:
    return json.loads((real_responses / name).read_text())


def rpc(handler: SolanaRpc, method: str, *params: Any) -> Any:
    """One JSON-RPC call through the handler; returns the whole response object."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}).encode()
    return handler.handle(SimRequest("POST", "", body=body)).json()


def result(handler: SolanaRpc, method: str, *params: Any) -> Any:
    response = rpc(handler, method, *params)
    assert "error" not in response, response
    return response["result"]


def get(handler: Blockfrost | TwelveData, path: str, **query: Any) -> SimResponse:
    return handler.handle(SimRequest("GET", path, query={k: str(v) for k, v in query.items()}))
