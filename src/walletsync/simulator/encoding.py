"""Address and identifier encodings the simulator emits: base58 (Solana), bech32 (Cardano), CIP-14.

Hand-written rather than taken from `base58`/`bech32` for two reasons: the ledger encodes hundreds of
thousands of 64-byte signatures and a chunked base58 encoder is several times faster than the
package's digit-by-digit loop; and `bech32.bech32_decode` refuses strings over 90 characters, which
every Shelley base address (103 characters) is. The checksum arithmetic follows BIP-173 exactly.
"""

from __future__ import annotations

import hashlib

B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {c: i for i, c in enumerate(B58_ALPHABET)}
_B58_PAIRS = tuple(a + b for a in B58_ALPHABET for b in B58_ALPHABET)  # two digits per lookup
_B58_CHUNK = 58**10

BECH32_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32_INDEX = {c: i for i, c in enumerate(BECH32_CHARSET)}
_BECH32_GEN = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


def b58encode(data: bytes) -> str:
    """Bitcoin-alphabet base58, as Solana uses for public keys and signatures."""
    n = int.from_bytes(data, "big")
    chunks: list[str] = []
    while n:
        n, rem = divmod(n, _B58_CHUNK)
        r4, d0 = divmod(rem, 3364)
        r3, d1 = divmod(r4, 3364)
        r2, d2 = divmod(r3, 3364)
        d4, d3 = divmod(r2, 3364)
        pairs = _B58_PAIRS
        chunks.append(pairs[d4] + pairs[d3] + pairs[d2] + pairs[d1] + pairs[d0])
    body = "".join(reversed(chunks)).lstrip("1")
    pad = len(data) - len(data.lstrip(b"\0"))
    return "1" * pad + body


def b58decode(text: str) -> bytes:
    """Inverse of `b58encode`; raises ValueError on a character outside the alphabet."""
    n = 0
    for c in text:
        try:
            n = n * 58 + _B58_INDEX[c]
        except KeyError:
            raise ValueError(f"invalid base58 character {c!r}") from None
    pad = len(text) - len(text.lstrip("1"))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    return b"\0" * pad + body


def is_solana_pubkey(text: str) -> bool:
    """True when `text` is base58 of exactly 32 bytes."""
    if not 32 <= len(text) <= 44:
        return False
    try:
        return len(b58decode(text)) == 32
    except ValueError:
        return False


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


def asset_fingerprint(policy_id: str, asset_name_hex: str) -> str:
    """CIP-14 asset fingerprint: bech32 "asset" of blake2b-160(policy id || asset name)."""
    digest = hashlib.blake2b(bytes.fromhex(policy_id + asset_name_hex), digest_size=20).digest()
    return bech32_encode("asset", digest)
