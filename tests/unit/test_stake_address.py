"""A base address's reward address, worked out locally (CIP-19) instead of asked per sync."""

from __future__ import annotations

from walletsync.indexing.staking import derived_stake_address
from walletsync.simulator.ledger import Ledger
from walletsync.wallets.bech32 import bech32_decode


def test_cip19_test_vectors() -> None:
    # CIP-19's type-0 base address (key hash payment, key hash stake) and its reward address.
    base = "addr1qx2fxv2umyhttkxyxp8x0dlpdt3k6cwng5pxj3jhsydzer3n0d3vllmyqwsx5wktcd8cc3sq835lu7drv2xwl2wywfgse35a3x"
    assert derived_stake_address(base) == "stake1uyehkck0lajq8gr28t9uxnuvgcqrc6070x3k9r8048z8y5gh6ffgw"
    # Enterprise (type 6) and pointer (type 4) addresses carry no stake credential of their own
    # (a pointer's is resolved by Blockfrost).
    for address, header_type in (
        ("addr1vx2fxv2umyhttkxyxp8x0dlpdt3k6cwng5pxj3jhsydzers66hrl8", 6),
        ("addr1gx2fxv2umyhttkxyxp8x0dlpdt3k6cwng5pxj3jhsydzer5pnz75xxcrzqf96k", 4),
    ):
        assert bech32_decode(address)[1][0] >> 4 == header_type  # valid, and of that type
        assert derived_stake_address(address) is None
    assert derived_stake_address("not an address") is None


def test_simulator_addresses_agree_with_its_blockfrost() -> None:
    ledger = Ledger(3, solana_wallets=0, cardano_wallets=3)
    for wallet in ledger.cardano_wallets:
        assert derived_stake_address(wallet) == ledger.cardano_stake_address(wallet)
