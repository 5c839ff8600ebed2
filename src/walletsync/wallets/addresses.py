"""Address validation per chain: Solana base58 public keys, Cardano bech32 Shelley addresses (CIP-19).

Bech32 decoding without the 90-character cap is `walletsync.wallets.bech32`; this module checks the
prefix, header type and network id CIP-19 defines.
"""

from __future__ import annotations

import base58

from walletsync.config import Chain
from walletsync.errors import InvalidInputError
from walletsync.wallets.bech32 import bech32_decode

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


CARDANO_NETWORK_IDS = {"mainnet": 1, "preprod": 0, "preview": 0}


def validate_address(chain: Chain | str, address: str, *, cardano_network: str | None = None) -> str:
    """Return the address in its one stored form if valid for `chain`, else raise `InvalidAddressError`.

    Whitespace is trimmed; a Cardano address is lowercased (bech32 allows an all-uppercase spelling of
    the same address, which must not become a second wallet) and, with `cardano_network`, must belong
    to it (`addr1…` on mainnet, `addr_test1…` on preprod and preview). Solana addresses carry no
    cluster, so none is checked."""
    chain = Chain(chain)
    candidate = address.strip()
    if not candidate:
        raise InvalidAddressError(f"{chain.value} address is empty")
    if chain is Chain.SOLANA:
        _check_solana(candidate)
        return candidate
    network_id = _check_cardano(candidate)
    if cardano_network is not None and network_id != CARDANO_NETWORK_IDS[cardano_network]:
        kind = "a mainnet" if network_id == 1 else "a testnet"
        raise InvalidAddressError(
            f"{candidate!r} is {kind} address; this instance indexes Cardano {cardano_network} "
            "(WALLETSYNC_CARDANO_NETWORK)"
        )
    return candidate.lower()


def _check_solana(address: str) -> None:
    try:
        raw = base58.b58decode(address)
    except ValueError:
        raise InvalidAddressError(f"{address!r} is not a Solana address: not base58") from None
    if len(raw) != 32:
        raise InvalidAddressError(
            f"{address!r} is not a Solana address: decodes to {len(raw)} bytes, expected 32"
        )


def _check_cardano(address: str) -> int:
    """Check a Cardano address; return its network id (1 mainnet, 0 testnets)."""

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
    try:
        _, payload = bech32_decode(lowered)
    except ValueError as exc:
        reason = str(exc)
        raise bad("bad checksum" if "checksum" in reason else reason) from None
    if len(payload) < 29:
        raise bad("payload too short")
    header_type, network = payload[0] >> 4, payload[0] & 0x0F
    expected_network, allowed_types = _CARDANO_HRPS[hrp]
    if header_type not in allowed_types:
        raise bad(f"header type {header_type} does not fit prefix {hrp!r}")
    if network != expected_network:
        raise bad(f"network id {network} does not fit prefix {hrp!r}")
    return network
