"""The simulator's Cardano ledger records: outputs, inputs, transactions, native assets, the block clock.

Transactions are compact `CardanoTx` tuples of inputs and outputs; Blockfrost bodies are built on
demand (see `blockfrost`). As on the real chain, a wallet's balance is its unspent outputs, and a
few transactions carry the traps an indexer must handle:
- a script transaction whose validation failed (`valid=False`) consumes only its collateral input
  and creates only its collateral return output; its regular inputs stay unspent;
- a valid script transaction lists a collateral input that is NOT consumed, and a reference input
  (read, not spent) from an outside address.
Outside counterparties spend synthetic outputs of transactions that are not part of the ledger.

This module also owns the one UTxO rule (`apply_tx`), shared by history generation and reorgs
(`forks`), and the seed-derived digests every Cardano identifier comes from. The chain state is
`cardano_chain`; how a pass of history is generated is `cardano_history`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from walletsync.simulator.cardano_chain import CardanoChain

ANCHOR_TS = 1_748_736_000  # 2025-06-01T00:00:00Z, same anchor as the Solana chain
ANCHOR_HEIGHT = 11_500_000
SHELLEY_SLOT_OFFSET = 1_591_566_291  # mainnet: slot = unix time - this offset
BLOCK_SECONDS = 20
WINDOW_BLOCKS = 60 * 86_400 // BLOCK_SECONDS
TIP_DEPTH = 100  # the tip is this many blocks past the newest transaction
ADA = 1_000_000

OUT_OF_LEDGER = -1  # InputRef.tx for an outside output whose transaction is not in the ledger

# (ticker, name, decimals, where Blockfrost finds them): the token registry (`metadata`), a CIP-68
# reference datum (`onchain_metadata`, standard CIP68v1; the unit's asset name carries the CIP-67
# fungible-token label 333), or nowhere (both null: decimals unknown).
ASSET_SPECS: tuple[tuple[str, str, int | None, str], ...] = (
    ("MIN", "Minswap", 6, "registry"),
    ("SNEK", "Snek", 0, "cip68"),
    ("HOSKY", "Hosky Token", None, "none"),
)
CIP68_FT_LABEL = "0014df10"


class Output(NamedTuple):
    address: int  # index into CardanoChain.addresses
    lovelace: int
    assets: tuple[tuple[int, int], ...]  # (asset index, quantity)
    inline_datum: str | None = None
    data_hash: str | None = None


class InputRef(NamedTuple):
    tx_hash: str
    output_index: int
    output: Output
    collateral: bool = False
    reference: bool = False
    reference_script_hash: str | None = None


class CardanoTx(NamedTuple):
    hash: str
    height: int
    tx_index: int
    fee: int
    valid: bool  # False: script validation failed, only collateral moved
    inputs: tuple[InputRef, ...]
    outputs: tuple[Output, ...]  # for an invalid tx: the collateral return only
    size: int
    redeemer_count: int
    payer: int = -1  # the address that built the transaction and funds its fee (ground truth)
    # The outputs this transaction consumes, (tx hash, index), as its builder chose them: the
    # simulator's own spend rule, stated when the transaction is made (not read back from flags).
    spends: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class NativeAsset:
    unit: str
    policy_id: str
    asset_name: str  # hex
    ticker: str
    name: str
    decimals: int | None
    fingerprint: str
    initial_mint_tx_hash: str
    quantity: int
    source: str = "registry"  # "registry", "cip68" or "none" (see ASSET_SPECS)

    def onchain_metadata(self) -> dict[str, Any] | None:
        """The CIP-68 reference datum's metadata as Blockfrost decodes it, or None."""
        if self.source != "cip68":
            return None
        return {
            "name": self.name,
            "description": f"{self.name} (simulated, CIP-68)",
            "ticker": self.ticker,
            "decimals": self.decimals,
            "url": f"https://example.invalid/{self.ticker.lower()}",
        }

    def metadata(self) -> dict[str, Any] | None:
        """The off-chain registry entry Blockfrost returns, or None when the token has none."""
        if self.source != "registry" or self.decimals is None:
            return None
        return {
            "name": self.name,
            "description": f"{self.name} (simulated)",
            "ticker": self.ticker,
            "url": f"https://example.invalid/{self.ticker.lower()}",
            "logo": None,
            "decimals": self.decimals,
        }


def block_time(height: int) -> int:
    return ANCHOR_TS - (ANCHOR_HEIGHT - height) * BLOCK_SECONDS


def block_slot(height: int) -> int:
    return block_time(height) - SHELLEY_SLOT_OFFSET


def block_hash(seed: int, height: int) -> str:
    return hashlib.sha256(f"walletsync-sim:{seed}:block:{height}".encode()).hexdigest()


def apply_tx(chain: CardanoChain, tx: CardanoTx) -> None:
    """Move the ledger's UTxO set through `tx`: what its builder spends goes, its outputs arrive."""
    owners = {(i.tx_hash, i.output_index): i.output.address for i in tx.inputs}
    for key in tx.spends:
        if chain.utxos.get(owners[key], {}).pop(key, None) is not None:
            chain.consumed_by[key] = tx.hash
    for n, out in enumerate(tx.outputs):
        chain.utxos.setdefault(out.address, {})[(tx.hash, n)] = out


def digest(seed: int, *parts: object, size: int = 28) -> bytes:
    text = ":".join(["walletsync-sim", str(seed), *map(str, parts)])
    return hashlib.sha256(text.encode()).digest()[:size]
