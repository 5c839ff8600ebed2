"""Token metadata in the simulated Solana RPC: Metaplex accounts at the metadata PDA (base64, the
program's Borsh layout read here byte by byte), none for BONKS, and a Token-2022 mint whose metadata
extension appears in jsonParsed (the mainnet extension shape) and as TLV entries in base64."""

from __future__ import annotations

import base64
import struct
from pathlib import Path

import base58
import pytest

from walletsync.providers.metaplex import METADATA_PROGRAM, metadata_address
from walletsync.simulator.ledger import Ledger
from walletsync.simulator.solana_rpc import SolanaRpc

from .shapes import assert_same_shape, load, result

BASE64 = {"encoding": "base64"}


@pytest.fixture(scope="module")
def ledger() -> Ledger:
    return Ledger(seed=11, solana_wallets=1, cardano_wallets=0)


@pytest.fixture(scope="module")
def handler(ledger: Ledger) -> SolanaRpc:
    return SolanaRpc(ledger.solana)


def _strings(raw: bytes, at: int, count: int) -> list[str]:
    found = []
    for _ in range(count):
        (size,) = struct.unpack_from("<I", raw, at)
        found.append(raw[at + 4 : at + 4 + size].rstrip(b"\x00").decode())
        at += 4 + size
    return found


def test_metaplex_accounts_at_the_pda(handler: SolanaRpc, ledger: Ledger, real_responses: Path) -> None:
    real = load(real_responses, "solana/getAccountInfo_ok_6.json")["result"]  # a base64 account
    named = {}
    for mint in ledger.solana.mints:
        served = result(handler, "getAccountInfo", metadata_address(mint.address), BASE64)
        if served["value"] is None:
            named[mint.symbol] = None
            continue
        assert_same_shape(
            {**served, "value": {k: v for k, v in served["value"].items() if k != "space"}}, real
        )
        assert served["value"]["owner"] == METADATA_PROGRAM
        raw = base64.b64decode(served["value"]["data"][0])
        assert raw[0] == 4  # MetadataV1
        assert base58.b58encode(raw[33:65]).decode() == mint.address
        assert struct.unpack_from("<I", raw, 65) == (32,)  # name puffed to 32 bytes
        named[mint.symbol] = _strings(raw, 65, 2)
    assert named == {"USDC": ["USD Coin", "USDC"], "WSIM": ["Wrapped Sim", "WSIM"], "BONKS": None}


def test_token2022_mint_with_metadata_extension(handler: SolanaRpc, ledger: Ledger) -> None:
    mint = ledger.solana.token2022_mints[0].address
    parsed = result(handler, "getAccountInfo", mint, {"encoding": "jsonParsed"})["value"]
    assert parsed["owner"] == "TokenzQdBNbLqP5VvEfrQ9Hx8wNemJZbpk3VqWsWLdT"
    assert parsed["data"]["program"] == "spl-token-2022"
    info = parsed["data"]["parsed"]["info"]
    extensions = {e["extension"]: e["state"] for e in info["extensions"]}
    assert extensions["metadataPointer"]["metadataAddress"] == mint
    assert (extensions["tokenMetadata"]["name"], extensions["tokenMetadata"]["symbol"], info["decimals"]) == (
        "Sim Points",
        "SPTS",
        2,
    )
    raw = base64.b64decode(result(handler, "getAccountInfo", mint, BASE64)["value"]["data"][0])
    assert raw[44] == 2  # decimals in the 82-byte base
    assert raw[165] == 1  # AccountType::Mint after the base padded to 165
    at, entries = 166, {}
    while at < len(raw):
        kind, size = struct.unpack_from("<HH", raw, at)
        entries[kind] = raw[at + 4 : at + 4 + size]
        at += 4 + size
    assert set(entries) == {18, 19}  # MetadataPointer, TokenMetadata
    assert _strings(entries[19], 64, 3) == ["Sim Points", "SPTS", "https://example.invalid/spts.json"]
