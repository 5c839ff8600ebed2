"""`walletsync inspect-tx`: normalize one raw provider response from a file and show the result.

Reads a Solana `getTransaction` result (or its whole JSON-RPC envelope) or a Cardano
`{"tx": <GET /txs/{hash}>, "utxos": <GET /txs/{hash}/utxos>}` pair, and returns the normalized
transaction in the `ChainTx.to_json()` shape. Every way the input can be wrong becomes one
`InspectError` (exit code 2) with a one-line message.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from walletsync.config import Chain
from walletsync.errors import InvalidInputError
from walletsync.providers.cardano import normalize_cardano_tx
from walletsync.providers.errors import ProviderError
from walletsync.providers.solana_parse import normalize_solana_tx
from walletsync.providers.types import ChainTx


class InspectError(InvalidInputError):
    """The file is missing, not JSON, or not the response shape the chain expects."""

    title = "Cannot inspect transaction"


def load_json(path: Path) -> Any:
    """The decoded JSON of `path`."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InspectError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InspectError(f"{path}: is a directory") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InspectError(f"{path}: cannot read ({exc})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InspectError(f"{path}: not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None


def normalize(chain: Chain, document: Any) -> ChainTx:
    """The normalized transaction of a decoded provider response."""
    try:
        if chain is Chain.SOLANA:
            if not isinstance(document, Mapping):
                raise InspectError("expected a getTransaction result object or its JSON-RPC envelope")
            return normalize_solana_tx(document)
        if not isinstance(document, Mapping) or not {"tx", "utxos"} <= document.keys():
            raise InspectError(
                'expected {"tx": <GET /txs/{hash} body>, "utxos": <GET /txs/{hash}/utxos body>}'
            )
        if not isinstance(document["tx"], Mapping) or not isinstance(document["utxos"], Mapping):
            raise InspectError('"tx" and "utxos" must both be JSON objects')
        return normalize_cardano_tx(document["tx"], document["utxos"])
    except ProviderError as exc:
        raise InspectError(exc.detail) from None


def inspect_file(chain: Chain, path: Path) -> dict[str, Any]:
    """`inspect-tx` output for the response stored in `path`."""
    return normalize(chain, load_json(path)).to_json()
