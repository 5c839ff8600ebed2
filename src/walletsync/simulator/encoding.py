"""Address and identifier encodings the simulator emits: base58 (Solana), bech32 (Cardano), CIP-14.

base58 is hand-written rather than taken from the `base58` package: the ledger encodes hundreds of
thousands of 64-byte signatures and a chunked encoder is several times faster than the package's
digit-by-digit loop. Bech32 comes from `walletsync.wallets.bech32` (shared with address validation).
"""

from __future__ import annotations

import hashlib

from walletsync.wallets.bech32 import bech32_decode, bech32_encode

__all__ = [
    "asset_fingerprint",
    "b58decode",
    "b58encode",
    "bech32_decode",
    "bech32_encode",
    "is_solana_pubkey",
]

B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {c: i for i, c in enumerate(B58_ALPHABET)}
_B58_PAIRS = tuple(a + b for a in B58_ALPHABET for b in B58_ALPHABET)  # two digits per lookup
_B58_CHUNK = 58**10


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


def asset_fingerprint(policy_id: str, asset_name_hex: str) -> str:
    """CIP-14 asset fingerprint: bech32 "asset" of blake2b-160(policy id || asset name)."""
    digest = hashlib.blake2b(bytes.fromhex(policy_id + asset_name_hex), digest_size=20).digest()
    return bech32_encode("asset", digest)
