"""Metaplex Token Metadata: where an SPL mint's name and symbol live, and how its account is read.

A classic SPL Token mint has no name or symbol of its own; by convention they sit in an account of
the Metaplex Token Metadata program at a program-derived address (PDA) of the seeds
`["metadata", program id, mint]`. That account is Borsh-serialized:

    key u8 (4 = MetadataV1) | update_authority [32] | mint [32]
    | name String | symbol String | uri String | seller_fee_basis_points u16 | ...

where a Borsh `String` is a little-endian u32 byte length then UTF-8 bytes. The program pads name,
symbol and uri with NULs to 32, 10 and 200 bytes ("puffed"), so the trailing NULs are trimmed here.
Only the fields walletsync shows are read; everything read is checked (lengths within the program's
own limits and the buffer, UTF-8, the key, the mint it names), so a malformed or foreign account is a
`MetadataFormatError`, never an `IndexError` deep in a sync.

Why the PDA is derived here rather than with a Solana SDK: the rule is small and fixed by the Solana
runtime (SHA-256 of seeds, bump, program id and "ProgramDerivedAddress"; the first bump from 255 down
whose hash is not an Ed25519 curve point), while the one well-kept Python implementation (`solders`)
is a 12 MB compiled wheel that every installation would carry for this one function. The test suite
checks this implementation against `solders` (a dev dependency) and a known mainnet address.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from functools import lru_cache

import base58

METADATA_PROGRAM = "metaqbxxUerdq28cj1RbAWkYQm3ybzjb6a8bt518x1s"
METADATA_V1 = 4  # mpl-token-metadata `Key::MetadataV1`
MAX_NAME_LENGTH = 32
MAX_SYMBOL_LENGTH = 10
MAX_URI_LENGTH = 200

# Ed25519 (edwards25519) field prime and curve constant d = -121665/121666 (mod p).
_P = 2**255 - 19
_D = -121665 * pow(121666, _P - 2, _P) % _P


class MetadataFormatError(ValueError):
    """The bytes at a metadata address are not a Metaplex MetadataV1 account for the expected mint."""


@dataclass(frozen=True, slots=True)
class MetaplexMetadata:
    name: str | None
    symbol: str | None
    uri: str | None
    update_authority: str


def is_on_curve(point: bytes) -> bool:
    """Whether 32 bytes decompress to an Ed25519 point, as curve25519-dalek's `decompress` decides.

    y is the low 255 bits (little-endian); the point exists when x^2 = (y^2 - 1) / (d y^2 + 1) has a
    square root mod p (Euler's criterion; x^2 = 0 counts). The sign bit does not matter here.
    """
    if len(point) != 32:
        raise ValueError("an Ed25519 point is 32 bytes")
    y = (int.from_bytes(point, "little") & ((1 << 255) - 1)) % _P
    yy = y * y % _P
    x2 = (yy - 1) * pow(_D * yy + 1, _P - 2, _P) % _P
    return x2 == 0 or pow(x2, (_P - 1) // 2, _P) == 1


def find_program_address(seeds: list[bytes], program_id: bytes) -> tuple[bytes, int]:
    """The program-derived address of `seeds` under `program_id` and its bump (Solana's rule)."""
    if len(seeds) > 15 or any(len(seed) > 32 for seed in seeds):
        raise ValueError("at most 15 seeds of at most 32 bytes each (the bump is the 16th)")
    prefix = b"".join(seeds)
    for bump in range(255, -1, -1):
        candidate = hashlib.sha256(prefix + bytes([bump]) + program_id + b"ProgramDerivedAddress").digest()
        if not is_on_curve(candidate):
            return candidate, bump
    raise ValueError("no off-curve address for these seeds")  # probability ~2^-256


def pubkey_bytes(address: str) -> bytes:
    raw = base58.b58decode(address)
    if len(raw) != 32:
        raise ValueError(f"{address!r} is not a 32-byte public key")
    return raw


@lru_cache(maxsize=4096)
def metadata_address(mint: str) -> str:
    """The Metaplex metadata PDA of `mint` (pure computation, so remembered)."""
    program = pubkey_bytes(METADATA_PROGRAM)
    address, _ = find_program_address([b"metadata", program, pubkey_bytes(mint)], program)
    return base58.b58encode(address).decode()


class _Reader:
    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def take(self, size: int, what: str) -> bytes:
        end = self._pos + size
        if end > len(self._data):
            raise MetadataFormatError(
                f"{what} needs {size} bytes at offset {self._pos}, the account has {len(self._data)}"
            )
        chunk = self._data[self._pos : end]
        self._pos = end
        return chunk

    def string(self, what: str, limit: int) -> str | None:
        size = int.from_bytes(self.take(4, f"{what} length"), "little")
        if size > limit:
            raise MetadataFormatError(f"{what} length {size} exceeds the program's limit {limit}")
        raw = self.take(size, what).rstrip(b"\x00")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MetadataFormatError(f"{what} is not UTF-8 ({exc.reason})") from exc
        if "\x00" in text:
            raise MetadataFormatError(f"{what} has a NUL byte before its end")
        return text.strip() or None


def parse_metadata(data: bytes, mint: str) -> MetaplexMetadata:
    """A MetadataV1 account's name, symbol and uri; `MetadataFormatError` for anything else."""
    reader = _Reader(data)
    key = reader.take(1, "key")[0]
    if key != METADATA_V1:
        raise MetadataFormatError(f"account key is {key}, not MetadataV1 ({METADATA_V1})")
    authority = base58.b58encode(reader.take(32, "update authority")).decode()
    named = base58.b58encode(reader.take(32, "mint")).decode()
    if named != mint:
        raise MetadataFormatError(f"the metadata names mint {named}, not {mint}")
    name = reader.string("name", MAX_NAME_LENGTH)
    symbol = reader.string("symbol", MAX_SYMBOL_LENGTH)
    uri = reader.string("uri", MAX_URI_LENGTH)
    reader.take(2, "seller fee basis points")  # the data struct's last fixed field is present
    return MetaplexMetadata(name=name, symbol=symbol, uri=uri, update_authority=authority)


def metadata_from_account(result: object, mint: str) -> MetaplexMetadata | None:
    """A base64 `getAccountInfo` result at the metadata PDA: None when no account is there (the mint
    has no Metaplex metadata); `MetadataFormatError` when the account is not readable metadata."""
    value = result.get("value") if isinstance(result, dict) else None
    if value is None:
        return None
    if not isinstance(value, dict):
        raise MetadataFormatError("getAccountInfo value is not an object")
    if value.get("owner") != METADATA_PROGRAM:
        raise MetadataFormatError(f"the account is owned by {value.get('owner')!r}, not the metadata program")
    data = value.get("data")
    if not (isinstance(data, list) and len(data) == 2 and data[1] == "base64" and isinstance(data[0], str)):
        raise MetadataFormatError(f"account data is not [base64, 'base64']: {str(data)[:60]!r}")
    try:
        raw = base64.b64decode(data[0], validate=True)
    except binascii.Error as exc:
        raise MetadataFormatError(f"account data is not base64 ({exc})") from exc
    return parse_metadata(raw, mint)
