"""Metaplex token metadata: the PDA derivation and the strict reading of the account's Borsh layout.

Oracles: the USDC metadata address as it exists on mainnet (5x38Kp…, the account holding USDC's
name), `solders` (the Solana SDK's own `find_program_address` and curve check, a dev dependency),
and buffers written byte by byte in this file from the program's documented layout.
"""

from __future__ import annotations

import base64
import random
import struct

import base58
import pytest

from walletsync.providers.metaplex import (
    METADATA_PROGRAM,
    MetadataFormatError,
    find_program_address,
    is_on_curve,
    metadata_address,
    metadata_from_account,
    parse_metadata,
)

USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
USDC_METADATA = "5x38Kp4hvdomTCnCrAny4UtMUt5rQBdB6px2K1Ui45Wq"  # on mainnet, owned by metaqbx…
# The Ed25519 base point's encoding (y = 4/5): on the curve by definition.
BASE_POINT = bytes.fromhex("5866666666666666666666666666666666666666666666666666666666666666")

MINT = base58.b58encode(bytes(range(1, 33))).decode()
AUTHORITY = bytes([7]) * 32


def hand_built(
    *,
    key: int = 4,
    mint: str = MINT,
    name: bytes = b"Hand Token" + b"\x00" * 22,
    symbol: bytes = b"HT" + b"\x00" * 8,
    uri: bytes = b"https://example.invalid/ht.json" + b"\x00" * 169,
) -> bytes:
    """A MetadataV1 account as the program writes it: key, authority, mint, puffed strings, fee."""
    return (
        bytes([key])
        + AUTHORITY
        + base58.b58decode(mint)
        + struct.pack("<I", len(name))
        + name
        + struct.pack("<I", len(symbol))
        + symbol
        + struct.pack("<I", len(uri))
        + uri
        + struct.pack("<H", 250)
        + b"\x00\x01\x01"  # creators None, primary sale, mutable (beyond what is read)
    )


def test_usdc_metadata_address_is_the_mainnet_account() -> None:
    assert metadata_address(USDC) == USDC_METADATA


def test_curve_check_on_known_points() -> None:
    assert is_on_curve(BASE_POINT)
    assert not is_on_curve(base58.b58decode(USDC_METADATA))  # a PDA is off the curve by construction


def test_derivation_agrees_with_solders_on_many_mints() -> None:
    """Random mints, including ones whose first bumps land on the curve (bump below 255)."""
    solders = pytest.importorskip("solders.pubkey")
    program = solders.Pubkey.from_string(METADATA_PROGRAM)
    rng = random.Random(11)
    bumps = set()
    for _ in range(300):
        mint = bytes(rng.getrandbits(8) for _ in range(32))
        expected, bump = solders.Pubkey.find_program_address([b"metadata", bytes(program), mint], program)
        assert find_program_address([b"metadata", bytes(program), mint], bytes(program)) == (
            bytes(expected),
            bump,
        )
        bumps.add(bump)
    assert min(bumps) < 254  # the off-curve search really searched
    for _ in range(300):
        point = bytes(rng.getrandbits(8) for _ in range(32))
        assert is_on_curve(point) == solders.Pubkey(point).is_on_curve()


def test_parses_a_hand_built_account() -> None:
    parsed = parse_metadata(hand_built(), MINT)
    assert (parsed.name, parsed.symbol, parsed.uri) == ("Hand Token", "HT", "https://example.invalid/ht.json")
    assert parsed.update_authority == base58.b58encode(AUTHORITY).decode()


def test_unpadded_and_empty_strings() -> None:
    """Older metadata may be unpadded; an all-NUL symbol is no symbol."""
    parsed = parse_metadata(hand_built(name=b"Short", symbol=b"\x00" * 10, uri=b""), MINT)
    assert (parsed.name, parsed.symbol, parsed.uri) == ("Short", None, None)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "key needs 1 bytes"),
        (hand_built(key=6), "key is 6"),
        (hand_built(mint=USDC), "names mint"),
        (hand_built(name=b"N" * 33), "name length 33 exceeds"),
        (hand_built(symbol=b"S" * 11), "symbol length 11 exceeds"),
        (hand_built(uri=b"u" * 201), "uri length 201 exceeds"),
        (hand_built(name=b"\xff\xfe" + b"\x00" * 30), "name is not UTF-8"),
        (hand_built(name=b"a\x00b" + b"\x00" * 29), "NUL byte before its end"),
        (hand_built()[:67], "name length needs 4 bytes"),
        (hand_built()[:80], "name needs 32 bytes"),
        (hand_built()[: 1 + 32 + 32 + 36 + 14 + 204], "seller fee basis points needs 2 bytes"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_malformed_accounts_are_refused_clearly(data: bytes, message: str) -> None:
    with pytest.raises(MetadataFormatError, match=message):
        parse_metadata(data, MINT)


def test_no_mangled_buffer_raises_anything_else() -> None:
    """Every truncation and 3,000 random byte flips of a valid account: parsed or MetadataFormatError."""
    valid = hand_built()
    rng = random.Random(5)
    buffers = [valid[:n] for n in range(len(valid))]
    for _ in range(3000):
        mangled = bytearray(valid)
        for _ in range(rng.randint(1, 4)):
            mangled[rng.randrange(100 if rng.random() < 0.7 else len(valid))] = rng.getrandbits(8)
        buffers.append(bytes(mangled))
    outcomes = {"parsed": 0, "refused": 0}
    for data in buffers:
        try:
            parse_metadata(data, MINT)
            outcomes["parsed"] += 1
        except MetadataFormatError:
            outcomes["refused"] += 1
    assert outcomes["refused"] >= len(valid)
    assert outcomes["parsed"] > 0


def _account(data: object, owner: str = METADATA_PROGRAM) -> dict[str, object]:
    return {
        "context": {"slot": 1},
        "value": {"data": data, "owner": owner, "lamports": 1, "executable": False},
    }


def test_account_envelopes() -> None:
    """No account is no metadata; a foreign owner or encoding is refused; base64 is decoded strictly."""
    encoded = [base64.b64encode(hand_built()).decode(), "base64"]
    assert metadata_from_account({"context": {"slot": 1}, "value": None}, MINT) is None
    found = metadata_from_account(_account(encoded), MINT)
    assert found is not None
    assert found.name == "Hand Token"
    with pytest.raises(MetadataFormatError, match="owned by"):
        metadata_from_account(_account(encoded, owner="11111111111111111111111111111111"), MINT)
    with pytest.raises(MetadataFormatError, match="not \\[base64"):
        metadata_from_account(_account(base58.b58encode(hand_built()).decode()), MINT)
    with pytest.raises(MetadataFormatError, match="not base64"):
        metadata_from_account(_account(["%%%", "base64"]), MINT)
