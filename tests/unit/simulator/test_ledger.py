"""The synthetic ledger: determinism, exact wallet sizes, encodings and ground-truth invariants."""

from __future__ import annotations

import base58
import bech32

from walletsync.config import Chain
from walletsync.simulator.blockfrost import Blockfrost
from walletsync.simulator.encoding import (
    asset_fingerprint,
    b58decode,
    b58encode,
    bech32_decode,
    is_solana_pubkey,
)
from walletsync.simulator.ledger import Ledger
from walletsync.simulator.solana_rpc import SolanaRpc
from walletsync.simulator.twelvedata import TwelveData

from .shapes import get, result


def _bodies(ledger: Ledger) -> list[bytes]:
    sol = SolanaRpc(ledger.solana)
    ada = Blockfrost(ledger.cardano)
    td = TwelveData(ledger.market)
    out = []
    for wallet in ledger.solana_wallets:
        for entry in result(sol, "getSignaturesForAddress", wallet):
            out.append(
                repr(
                    result(
                        sol,
                        "getTransaction",
                        entry["signature"],
                        {"encoding": "jsonParsed", "maxSupportedTransactionVersion": 0},
                    )
                ).encode()
            )
    for wallet in ledger.cardano_wallets:
        for entry in get(ada, f"/addresses/{wallet}/transactions").json():
            out.append(get(ada, f"/txs/{entry['tx_hash']}/utxos").body)
    out.append(get(td, "/time_series", symbol="ETH/USD", interval="5min", outputsize=100).body)
    return out


def test_same_seed_gives_identical_bodies_and_other_seeds_differ() -> None:
    """Two ledgers from one seed serve byte-identical bodies; another seed serves different ones."""
    first, second, other = Ledger(seed=3), Ledger(seed=3), Ledger(seed=4)
    assert first.solana_wallets == second.solana_wallets
    assert _bodies(first) == _bodies(second)
    assert other.solana_wallets != first.solana_wallets
    assert other.cardano_wallets != first.cardano_wallets
    assert _bodies(other) != _bodies(first)


def test_exact_wallets_have_exactly_their_transactions() -> None:
    """exact wallets (and add_*_wallet) have exactly the requested number of transactions."""
    ledger = Ledger(
        seed=1, solana_wallets=2, cardano_wallets=2, exact_solana_wallets=(80,), exact_cardano_wallets=(80,)
    )
    assert len(ledger.wallet_tx_ids(Chain.SOLANA, ledger.solana_wallets[-1])) == 80
    assert len(ledger.wallet_tx_ids(Chain.CARDANO, ledger.cardano_wallets[-1])) == 80
    before = ledger.solana_lamports(ledger.solana_wallets[0])
    added = ledger.add_solana_wallet(1)
    assert ledger.wallet_tx_ids("solana", added) != set()
    assert ledger.solana_lamports(ledger.solana_wallets[0]) == before  # adding leaves the rest alone
    counts = [w["txs"] for w in ledger.summary()["solana"]]
    assert counts[-2:] == [80, 1]


def test_big_wallet_builds_compactly() -> None:
    """A 100,000-transaction wallet builds and every transaction is listed for it."""
    ledger = Ledger(seed=2, solana_wallets=0, cardano_wallets=0)
    wallet = ledger.add_solana_wallet(100_000)
    assert len(ledger.wallet_tx_ids(Chain.SOLANA, wallet)) == 100_000
    assert len(ledger.solana.txs) == 100_000


def test_addresses_are_valid_for_their_chain() -> None:
    """Solana keys are 32-byte base58; Cardano addresses are mainnet Shelley base addresses."""
    ledger = Ledger(seed=8)
    for key in ledger.solana_wallets + list(ledger.solana_token_accounts(ledger.solana_wallets[0]).values()):
        assert is_solana_pubkey(key)
        assert len(base58.b58decode(key)) == 32
    for address in ledger.cardano_wallets:
        hrp, data = bech32_decode(address)
        assert hrp == "addr"
        assert len(data) == 57
        assert data[0] == 0x01
        assert address == bech32.bech32_encode("addr", bech32.convertbits(data, 8, 5))


def test_encoders_agree_with_reference_implementations() -> None:
    """Fast base58 equals the base58 package; the CIP-14 fingerprint matches the CIP's test vector."""
    for raw in (b"", b"\0\0\x01", bytes(range(64)), b"\xff" * 32):
        assert b58encode(raw) == base58.b58encode(raw).decode()
        assert b58decode(b58encode(raw)) == raw
    vector = asset_fingerprint("7eae28af2208be856f7a119668ae52a49b73725e326dc16579dcc373", "504154415445")
    assert vector == "asset13n25uv0yaf5kus35fm2k86cqy60z58d9xmde92"


def test_ground_truth_balances_are_sums_of_effects() -> None:
    """Ledger balances equal the sum of its own transaction effects, starting from zero."""
    ledger = Ledger(seed=6)
    sol = ledger.solana
    for wallet in ledger.solana_wallets:
        idx = sol.account_index[wallet]
        total = 0
        for t in sol.address_txs[idx]:
            tx = sol.txs[t]
            if tx.payer == idx:
                total -= tx.fee + (0 if tx.failed or tx.kind else tx.amount)
            elif not tx.failed and tx.kind == 0 and tx.dest == idx:
                total += tx.amount
        assert total == ledger.solana_lamports(wallet) > 0
