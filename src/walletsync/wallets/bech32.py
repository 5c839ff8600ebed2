"""Bech32 (BIP-173) encoding and decoding with no length limit, as Cardano addresses need.

The reference `bech32` package implements BIP-173 for Bitcoin, which caps strings at 90 characters;
every Shelley base address is 103. The checksum arithmetic here follows BIP-173 exactly. Used by
address validation and by the simulator, which emits Cardano addresses and asset fingerprints.
"""

from __future__ import annotations

BECH32_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32_INDEX = {c: i for i, c in enumerate(BECH32_CHARSET)}
_BECH32_GEN = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


def _bech32_polymod(values: list[int]) -> int:
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= _BECH32_GEN[i] if (top >> i) & 1 else 0
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(x) >> 5 for x in hrp] + [0] + [ord(x) & 31 for x in hrp]


def _convertbits(data: bytes | list[int], frombits: int, tobits: int, pad: bool) -> list[int]:
    acc = 0
    bits = 0
    out: list[int] = []
    maxv = (1 << tobits) - 1
    for value in data:
        acc = (acc << frombits) | value
        bits += frombits
        while bits >= tobits:
            bits -= tobits
            out.append((acc >> bits) & maxv)
    if pad:
        if bits:
            out.append((acc << (tobits - bits)) & maxv)
    elif bits >= frombits or ((acc << (tobits - bits)) & maxv):
        raise ValueError("invalid bech32 padding")
    return out


def bech32_encode(hrp: str, data: bytes) -> str:
    """Bech32 (BIP-173) of `data` bytes under `hrp`, with no length limit (Cardano addresses)."""
    words = _convertbits(data, 8, 5, pad=True)
    polymod = _bech32_polymod([*_hrp_expand(hrp), *words, 0, 0, 0, 0, 0, 0]) ^ 1
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(BECH32_CHARSET[d] for d in words + checksum)


def bech32_decode(text: str) -> tuple[str, bytes]:
    """(hrp, data bytes) of a bech32 string of any length; ValueError when it is not valid bech32."""
    if text.lower() != text and text.upper() != text:
        raise ValueError("mixed case bech32")
    text = text.lower()
    pos = text.rfind("1")
    if pos < 1 or pos + 7 > len(text):
        raise ValueError("bech32 separator missing or checksum too short")
    hrp = text[:pos]
    try:
        words = [_BECH32_INDEX[c] for c in text[pos + 1 :]]
    except KeyError:
        raise ValueError("invalid bech32 character") from None
    if _bech32_polymod([*_hrp_expand(hrp), *words]) != 1:
        raise ValueError("bad bech32 checksum")
    return hrp, bytes(_convertbits(words[:-6], 5, 8, pad=False))
