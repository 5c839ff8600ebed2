"""The simulator's synthetic Cardano chain state: Shelley addresses, native assets, the UTxO set.

`CardanoChain` holds everything one simulated ledger knows about Cardano and answers the reads of
`blockfrost` and the ground-truth API. The record types and the UTxO rule are `cardano_records`;
the generated history (wallets, counterparties, transactions) is `cardano_history`.
"""

from __future__ import annotations

import hashlib

from walletsync.simulator.cardano_history import PassGenerator
from walletsync.simulator.cardano_records import (
    ANCHOR_HEIGHT,
    ASSET_SPECS,
    CIP68_FT_LABEL,
    TIP_DEPTH,
    CardanoTx,
    NativeAsset,
    Output,
    block_hash,
    digest,
)
from walletsync.simulator.encoding import asset_fingerprint, bech32_encode


class CardanoChain:
    """All Cardano state of one simulated ledger; read by `blockfrost` and the ground-truth API."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.addresses: list[str] = []
        self.address_index: dict[str, int] = {}
        self.stake_addresses: list[str | None] = []
        self.scripts: list[bool] = []
        self.txs: list[CardanoTx] = []
        self.hash_index: dict[str, int] = {}
        self.address_txs: dict[int, list[int]] = {}  # address -> tx indices in chain order
        self.consumed_by: dict[tuple[str, int], str] = {}
        self.utxos: dict[int, dict[tuple[str, int], Output]] = {}  # address -> unspent outputs
        self.wallets: list[str] = []
        self.max_height = ANCHOR_HEIGHT - TIP_DEPTH
        self.passes = 0
        self.dropped: set[int] = set()  # tx indices removed by a reorg (see `forks`)
        self.fork_cutoffs: list[int] = []  # per reorg: heights above it were replaced
        self.assets: list[NativeAsset] = []
        self.asset_index: dict[str, int] = {}
        for i, (ticker, name, decimals, source) in enumerate(ASSET_SPECS):
            policy = digest(seed, "policy", i).hex()
            asset_name = (CIP68_FT_LABEL if source == "cip68" else "") + ticker.encode().hex()
            asset = NativeAsset(
                unit=policy + asset_name,
                policy_id=policy,
                asset_name=asset_name,
                ticker=ticker,
                name=name,
                decimals=decimals,
                fingerprint=asset_fingerprint(policy, asset_name),
                initial_mint_tx_hash=digest(seed, "mint-tx", i, size=32).hex(),
                quantity=10**15,
                source=source,
            )
            self.assets.append(asset)
            self.asset_index[asset.unit] = i

    # --- building ---------------------------------------------------------------------------

    def new_address(
        self, *parts: object, kind: str = "base", stake_key: tuple[object, ...] | None = None
    ) -> int:
        """A new address; base addresses sharing `stake_key` belong to one stake account (wallet)."""
        payment = digest(self.seed, "payment", *parts)
        stake: str | None = None
        if kind == "base":
            stake_hash = digest(self.seed, "stake", *(stake_key or parts))
            address = bech32_encode("addr", b"\x01" + payment + stake_hash)
            stake = bech32_encode("stake", b"\xe1" + stake_hash)
        elif kind == "enterprise":
            address = bech32_encode("addr", b"\x61" + payment)
        else:  # a script (validator) address
            address = bech32_encode("addr", b"\x71" + payment)
        idx = len(self.addresses)
        self.addresses.append(address)
        self.address_index[address] = idx
        self.stake_addresses.append(stake)
        self.scripts.append(kind == "script")
        return idx

    def add_pass(self, tx_counts: list[int], *, interact: bool, one_stake: bool = False) -> list[str]:
        """Generate wallets with about `tx_counts[i]` transactions each (exactly, when not `interact`).

        `one_stake`: the pass's addresses share one stake key (one multi-address stake wallet).
        """
        pass_no = self.passes
        self.passes += 1
        gen = PassGenerator(self, pass_no, tx_counts, interact=interact, one_stake=one_stake)
        gen.run()
        created = [self.addresses[w] for w in gen.wallets]
        self.wallets.extend(created)
        return created

    # --- reading ----------------------------------------------------------------------------

    @property
    def tip_height(self) -> int:
        return self.max_height + TIP_DEPTH

    def stake_addresses_of(self, stake: str) -> list[int]:
        """Indices of the addresses under one stake address, in creation order."""
        return [i for i, owner in enumerate(self.stake_addresses) if owner == stake]

    def block_hash(self, height: int) -> str:
        """The hash of the block at `height` on the current fork (changed by each reorg above it)."""
        fork = sum(1 for cutoff in self.fork_cutoffs if height > cutoff)
        if fork == 0:
            return block_hash(self.seed, height)
        return hashlib.sha256(f"walletsync-sim:{self.seed}:block:{height}:fork:{fork}".encode()).hexdigest()

    def live_txs(self) -> list[CardanoTx]:
        """Transactions on the current fork, in chain order."""
        return [tx for i, tx in enumerate(self.txs) if i not in self.dropped]

    def amounts(self, address: int) -> dict[str, int]:
        """Unspent balance per unit ("lovelace" or policy id + asset name) of one address."""
        total: dict[str, int] = {"lovelace": 0}
        for out in self.utxos.get(address, {}).values():
            total["lovelace"] += out.lovelace
            for asset, qty in out.assets:
                unit = self.assets[asset].unit
                total[unit] = total.get(unit, 0) + qty
        return total
