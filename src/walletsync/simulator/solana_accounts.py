"""`getAccountInfo` over the synthetic Solana chain: system accounts, token accounts, SPL and
Token-2022 mints, and Metaplex token-metadata accounts.

Token metadata is modelled the two ways mainnet holds it:
- Metaplex: the classic mints USDC and WSIM have a MetadataV1 account at their metadata PDA (owner
  `metaqbx…`, Borsh data with NUL-padded name/symbol/uri, as the program writes it); BONKS has none
  (`value: null` there). Tests rename a token by editing `SolanaChain.metaplex`.
- Token-2022: one extra mint (`SolanaChain.token2022_mints`) owned by the Token-2022 program carries
  its name and symbol in the token-metadata extension (jsonParsed `extensions`, or TLV entries after
  the 165-byte base in binary encodings). No generated wallet trades it (history generation keeps its
  three classic mints, so every seed's ledger stays as it was); it is read by address.

The Borsh and TLV encoding here is written from the programs' layouts, independently of the
product's parser. The PDA itself is the product's `metadata_address` (checked in its own tests
against `solders` and a mainnet address), so the simulator serves exactly where the product looks.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from walletsync.providers.metaplex import METADATA_PROGRAM, metadata_address
from walletsync.simulator.encoding import b58decode, b58encode
from walletsync.simulator.solana_chain import SolanaChain
from walletsync.simulator.solana_records import (
    MINT_RENT,
    SYSTEM_PROGRAM,
    TOKEN_ACCOUNT_RENT,
    TOKEN_PROGRAM,
    Mint,
)

RENT_EPOCH = 18446744073709551615
TOKEN_2022_PROGRAM = "TokenzQdBNbLqP5VvEfrQ9Hx8wNemJZbpk3VqWsWLdT"  # noqa: S105 - a program id
METADATA_RENT = 5_616_720  # rent-exempt minimum of a 679-byte MetadataV1 account
TOKEN_2022_MINT_BASE = 165  # a Token-2022 mint with extensions is padded to an account's size
METADATA_POINTER = 18  # Token-2022 ExtensionType::MetadataPointer
TOKEN_METADATA = 19  # Token-2022 ExtensionType::TokenMetadata

IsClosed = Callable[[int], bool]


def ui_amount_string(amount: int, decimals: int) -> str:
    """Decimal string without trailing zeros, as the RPC prints uiAmountString ("0.07", "6900")."""
    if decimals == 0:
        return str(amount)
    whole, frac = divmod(amount, 10**decimals)
    text = f"{whole}.{frac:0{decimals}d}".rstrip("0").rstrip(".")
    return text


def token_amount(amount: int, decimals: int, *, null_zero: bool) -> dict[str, Any]:
    """A uiTokenAmount object; transaction token balances print a zero uiAmount as null."""
    text = ui_amount_string(amount, decimals)
    ui: float | None = None if (amount == 0 and null_zero) else float(text)
    return {"amount": str(amount), "decimals": decimals, "uiAmount": ui, "uiAmountString": text}


def borsh_string(text: str, pad_to: int | None = None) -> bytes:
    """u32 little-endian length then UTF-8; Metaplex pads ("puffs") with NULs to a fixed size."""
    raw = text.encode()
    if pad_to is not None:
        raw = raw.ljust(pad_to, b"\x00")
    return len(raw).to_bytes(4, "little") + raw


def metaplex_data(mint: str, authority: str, name: str, symbol: str, uri: str) -> bytes:
    """A MetadataV1 account as the program lays it out (679 bytes, zero tail)."""
    data = (
        bytes([4])
        + b58decode(authority)
        + b58decode(mint)
        + borsh_string(name, 32)
        + borsh_string(symbol, 10)
        + borsh_string(uri, 200)
        + (500).to_bytes(2, "little")  # seller fee basis points
        + b"\x00"  # creators: None
        + b"\x01\x01"  # primary sale happened, is mutable
        + b"\x01\xfe"  # edition nonce: Some(254)
        + b"\x01\x02"  # token standard: Some(Fungible)
    )
    return data.ljust(679, b"\x00")


def account_info(chain: SolanaChain, address: str, encoding: str, closed: IsClosed) -> dict[str, Any] | None:
    """The `value` of `getAccountInfo` for `address` (None: no account there)."""
    if address in chain.closed_mints:
        return None
    mint = chain.mint_index.get(address)
    if mint is not None:
        return _mint_account(chain.mints[mint], encoding)
    for extra in chain.token2022_mints:
        if extra.address == address:
            return _token2022_mint(chain, extra, encoding)
    metadata = _metaplex_account(chain, address, encoding)
    if metadata is not None:
        return metadata
    idx = chain.account_index.get(address)
    if idx is None or closed(idx):
        return None  # never existed, or a token account closed since
    if idx in chain.token_accounts:
        return token_account(chain, idx, encoding)
    data: Any = ["", "base64"] if encoding in ("base64", "jsonParsed") else ""
    return _value(data, chain.lamports[idx], SYSTEM_PROGRAM, 0)


def _value(data: Any, lamports: int, owner: str, space: int) -> dict[str, Any]:
    return {
        "data": data,
        "executable": False,
        "lamports": lamports,
        "owner": owner,
        "rentEpoch": RENT_EPOCH,
        "space": space,
    }


def binary(raw: bytes, encoding: str) -> Any:
    if encoding in ("base64", "jsonParsed"):  # jsonParsed falls back to base64 for unparsed programs
        return [base64.b64encode(raw).decode(), "base64"]
    # the real RPC refuses base58 for accounts over 128 bytes with this string in place of data
    return "error: data too large for bs58 encoding" if len(raw) > 128 else b58encode(raw)


def _metaplex_account(chain: SolanaChain, address: str, encoding: str) -> dict[str, Any] | None:
    for mint, (name, symbol, uri) in chain.metaplex.items():
        if metadata_address(mint) == address:
            authority = chain.mints[chain.mint_index[mint]].authority if mint in chain.mint_index else mint
            raw = metaplex_data(mint, authority, name, symbol, uri)
            return _value(binary(raw, encoding), METADATA_RENT, METADATA_PROGRAM, len(raw))
    return None


def _mint_base(mint: Mint) -> bytes:
    return (
        b"\x01\x00\x00\x00"
        + b58decode(mint.authority)
        + mint.supply.to_bytes(8, "little")
        + bytes([mint.decimals, 1])
        + bytes(4 + 32)
    )


def _mint_account(mint: Mint, encoding: str) -> dict[str, Any]:
    data: Any
    if encoding == "jsonParsed":
        data = {"parsed": {"info": _mint_info(mint), "type": "mint"}, "program": "spl-token", "space": 82}
    else:
        data = binary(_mint_base(mint), encoding)
    return _value(data, MINT_RENT, TOKEN_PROGRAM, 82)


def _mint_info(mint: Mint) -> dict[str, Any]:
    return {
        "decimals": mint.decimals,
        "freezeAuthority": None,
        "isInitialized": True,
        "mintAuthority": mint.authority,
        "supply": str(mint.supply),
    }


def _token2022_mint(chain: SolanaChain, mint: Mint, encoding: str) -> dict[str, Any]:
    name, symbol, uri = chain.token2022_metadata[mint.address]
    tlv_metadata = (
        b58decode(mint.authority)
        + b58decode(mint.address)
        + borsh_string(name)
        + borsh_string(symbol)
        + borsh_string(uri)
        + (0).to_bytes(4, "little")  # additional metadata: empty
    )
    tlv_pointer = b58decode(mint.authority) + b58decode(mint.address)
    raw = (
        _mint_base(mint).ljust(TOKEN_2022_MINT_BASE, b"\x00")
        + b"\x01"  # AccountType::Mint
        + METADATA_POINTER.to_bytes(2, "little")
        + len(tlv_pointer).to_bytes(2, "little")
        + tlv_pointer
        + TOKEN_METADATA.to_bytes(2, "little")
        + len(tlv_metadata).to_bytes(2, "little")
        + tlv_metadata
    )
    data: Any
    if encoding == "jsonParsed":
        extensions = [
            {
                "extension": "metadataPointer",
                "state": {"authority": mint.authority, "metadataAddress": mint.address},
            },
            {
                "extension": "tokenMetadata",
                "state": {
                    "additionalMetadata": [],
                    "mint": mint.address,
                    "name": name,
                    "symbol": symbol,
                    "updateAuthority": mint.authority,
                    "uri": uri,
                },
            },
        ]
        info = {**_mint_info(mint), "extensions": extensions}
        data = {"parsed": {"info": info, "type": "mint"}, "program": "spl-token-2022", "space": len(raw)}
    else:
        data = binary(raw, encoding)
    return _value(data, MINT_RENT + 6960 * (len(raw) - 82), TOKEN_2022_PROGRAM, len(raw))


def token_account(chain: SolanaChain, ta: int, encoding: str) -> dict[str, Any]:
    account = chain.token_accounts[ta]
    mint = chain.mints[account.mint]
    amount = chain.token_amount[ta]
    data: Any
    if encoding == "jsonParsed":
        info = {
            "isNative": False,
            "mint": mint.address,
            "owner": chain.accounts[account.owner],
            "state": "initialized",
            "tokenAmount": token_amount(amount, mint.decimals, null_zero=False),
        }
        data = {"parsed": {"info": info, "type": "account"}, "program": "spl-token", "space": 165}
    else:
        raw = (
            b58decode(mint.address)
            + b58decode(chain.accounts[account.owner])
            + amount.to_bytes(8, "little")
            + bytes(4 + 32)
            + b"\x01"
            + bytes(4 + 8 + 8 + 4 + 32)
        )
        data = binary(raw, encoding)
    return _value(data, TOKEN_ACCOUNT_RENT, TOKEN_PROGRAM, 165)
