"""Per-chain address validation: what is accepted, and a readable reason for what is not."""

from __future__ import annotations

import pytest

from walletsync.config import Chain
from walletsync.wallets.addresses import InvalidAddressError, validate_address

# The Blockfrost spec's example address (mainnet base address) and a stake address.
CARDANO_BASE = (
    "addr1qxqs59lphg8g6qndelq8xwqn60ag3aeyfcp33c2kdp46a09re5df3pzwwmyq946axfcejy5n4x0y99wqpgtp2gd0k09qsgy6pz"
)
CARDANO_STAKE = "stake1u9ylzsgxaa6xctf4juup682ar3juj85n8tx3hthnljg47zctvm3rc"
SOLANA = "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM"


@pytest.mark.parametrize(
    ("chain", "address"),
    [(Chain.SOLANA, SOLANA), (Chain.CARDANO, CARDANO_BASE), (Chain.CARDANO, CARDANO_STAKE)],
)
def test_valid_addresses_are_accepted_and_trimmed(chain: Chain, address: str) -> None:
    """Valid addresses come back unchanged apart from surrounding whitespace."""
    assert validate_address(chain, f"  {address}\n") == address


def test_generated_testnet_addresses_are_accepted() -> None:
    """The simulator's bech32 encoder and the validator agree on addr_test / stake_test prefixes."""
    from walletsync.simulator.encoding import bech32_encode

    payment = bytes([0x00]) + bytes(range(56))  # base address, testnet (network id 0)
    reward = bytes([0xE0]) + bytes(range(28))  # stake address, testnet
    assert validate_address(Chain.CARDANO, bech32_encode("addr_test", payment))
    assert validate_address(Chain.CARDANO, bech32_encode("stake_test", reward))


@pytest.mark.parametrize(
    ("chain", "address", "reason"),
    [
        (Chain.SOLANA, "", "address is empty"),
        (Chain.SOLANA, "0OIl" * 11, "not base58"),
        (Chain.SOLANA, "3yZe7d", "decodes to 4 bytes, expected 32"),
        (Chain.SOLANA, CARDANO_STAKE, "not base58"),
        (Chain.CARDANO, SOLANA, "not bech32"),
        (Chain.CARDANO, CARDANO_BASE[:-1] + "q", "bad checksum"),
        (Chain.CARDANO, CARDANO_BASE.replace("addr1", "addr_test1", 1), "bad checksum"),
        (Chain.CARDANO, "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "unknown prefix 'bc'"),
        (Chain.CARDANO, CARDANO_BASE.upper()[:10] + CARDANO_BASE[10:], "mixed case"),
    ],
)
def test_invalid_addresses_say_why(chain: Chain, address: str, reason: str) -> None:
    """Each rejection is an InvalidAddressError (HTTP 422, exit 2) whose message names the problem."""
    with pytest.raises(InvalidAddressError) as caught:
        validate_address(chain, address)
    assert reason in caught.value.detail
    assert caught.value.status == 422
    assert caught.value.exit_code == 2


def test_network_mismatch_is_rejected() -> None:
    """A mainnet header under the testnet prefix (valid checksum) is refused for its network id."""
    from walletsync.simulator.encoding import bech32_encode

    mainnet_payload = bytes([0x01]) + bytes(range(56))
    with pytest.raises(InvalidAddressError, match="network id 1 does not fit prefix 'addr_test'"):
        validate_address(Chain.CARDANO, bech32_encode("addr_test", mainnet_payload))


def test_cardano_addresses_are_stored_lowercase_and_checked_against_the_network() -> None:
    """An all-uppercase spelling is the same address (one stored form); the network must match."""
    from walletsync.simulator.encoding import bech32_encode

    assert validate_address(Chain.CARDANO, CARDANO_BASE.upper()) == CARDANO_BASE
    assert validate_address(Chain.CARDANO, f" {CARDANO_BASE} ", cardano_network="mainnet") == CARDANO_BASE
    testnet = bech32_encode("addr_test", bytes([0x00]) + bytes(range(56)))
    assert validate_address(Chain.CARDANO, testnet, cardano_network="preprod") == testnet
    with pytest.raises(
        InvalidAddressError, match="is a testnet address; this instance indexes Cardano mainnet"
    ):
        validate_address(Chain.CARDANO, testnet, cardano_network="mainnet")
    with pytest.raises(
        InvalidAddressError, match="is a mainnet address; this instance indexes Cardano preview"
    ):
        validate_address(Chain.CARDANO, CARDANO_BASE, cardano_network="preview")
