"""Address validation per chain: Solana base58 public keys, Cardano bech32 Shelley addresses.

Cardano addresses are longer than the 90 characters the reference `bech32` package accepts (it
implements BIP-173 for Bitcoin, which caps the length), so the checksum is verified here with the
same polymod; the rules are short and fixed by CIP-19.
"""

from __future__ import annotations

import base58

from walletsync.config import Chain
from walletsync.errors import InvalidInputError

_BECH32_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32_GENERATORS = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)

# CIP-19: human-readable part -> (network id in the header, allowed header types)
_CARDANO_HRPS: dict[str, tuple[int, frozenset[int]]] = {
    "addr": (1, frozenset(range(8))),
    "addr_test": (0, frozenset(range(8))),
    "stake": (1, frozenset({14, 15})),
    "stake_test": (0, frozenset({14, 15})),
}


class InvalidAddressError(InvalidInputError):
    """The address is not valid for the chain."""

    title = "Invalid address"


def validate_address(chain: Chain | str, address: str) -> str:
    """Return the address (whitespace trimmed) if valid for `chain`, else raise `InvalidAddressError`."""
    chain = Chain(chain)
    candidate = address.strip()
    if not candidate:
        raise InvalidAddressError(f"{chain.value} address is empty")
    if chain is Chain.SOLANA:
        _check_solana(candidate)
    else:
        _check_cardano(candidate)
    return candidate


def _check_solana(address: str) -> None:
    try:
        raw = base58.b58decode(address)
    except ValueError:
        raise InvalidAddressError(
            f"{address!r} is not a Solana address: not base58"
        ) from None
    if len(raw) != 32:
        raise InvalidAddressError(
            f"{address!r} is not a Solana address: decodes to {len(raw)} bytes, expected 32"
        )


def _polymod(values: list[int]) -> int:
    checksum = 1
    for value in values:
        top = checksum >> 25
        checksum = (checksum & 0x1FFFFFF) << 5 ^ value
        for i, generator in enumerate(_BECH32_GENERATORS):
            if (top >> i) & 1:
                checksum ^= generator
    return checksum


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _convert_5_to_8(data: list[int]) -> bytes | None:
    acc = bits = 0
    out = bytearray()
    for value in data:
        acc = (acc << 5) | value
        bits += 5
        while bits >= 8:
            bits -= 8
            out.append((acc >> bits) & 0xFF)
    if bits >= 5 or (acc << (8 - bits)) & 0xFF:
        return None
    return bytes(out)


def _check_cardano(address: str) -> None:
    def bad(reason: str) -> InvalidAddressError:
        return InvalidAddressError(f"{address!r} is not a Cardano address: {reason}")

    lowered = address.lower()
    hrp, sep, data_part = lowered.rpartition("1")
    if not sep or not hrp or len(data_part) < 6:
        raise bad("not bech32 (expected addr1…, addr_test1…, stake1… or stake_test1…)")
    if hrp not in _CARDANO_HRPS:
        raise bad(f"unknown prefix {hrp!r} (expected addr, addr_test, stake or stake_test)")
    if address != lowered and address != address.upper():
        raise bad("mixed case")
    if any(c not in _BECH32_CHARSET for c in data_part):
        raise bad("invalid bech32 character")
    data = [_BECH32_CHARSET.index(c) for c in data_part]
    if _polymod(_hrp_expand(hrp) + data) != 1:
        raise bad("bad checksum")
    payload = _convert_5_to_8(data[:-6])
    if payload is None or len(payload) < 29:
        raise bad("payload too short")
    header_type, network = payload[0] >> 4, payload[0] & 0x0F
    expected_network, allowed_types = _CARDANO_HRPS[hrp]
    if header_type not in allowed_types:
        raise bad(f"header type {header_type} does not fit prefix {hrp!r}")
    if network != expected_network:
        raise bad(f"network id {network} does not fit prefix {hrp!r}")
