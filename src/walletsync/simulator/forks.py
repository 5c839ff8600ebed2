"""Chain reorganisations for the simulator: replace the last N blocks of the Cardano chain.

A reorg of depth N forks the chain below its last N blocks: every block above `tip - N` gets a new
hash, and each transaction in them is either re-included (same height and position, new block
hash) or dropped, like a transaction that did not make it into the winning fork. A transaction
spending an output of a dropped one is dropped too. The UTxO set is then replayed from the
surviving transactions with the simulator's own spend rule (`CardanoTx.spends`, chosen by each
transaction's builder), so the ground truth (`Ledger.cardano_amounts`, `wallet_tx_ids`) follows.

`POST /_admin/reorg {"chain": "cardano", "depth": N, "drop": 0.5, "seed": 0}` calls `reorg_cardano`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from walletsync.simulator.cardano_chain import CardanoChain
from walletsync.simulator.cardano_records import apply_tx
from walletsync.simulator.solana_chain import SolanaChain
from walletsync.simulator.solana_records import SOL_TRANSFER


class ReorgRequest(BaseModel):
    """The body of `POST /_admin/reorg`."""

    model_config = ConfigDict(extra="forbid")

    chain: Literal["cardano"] = "cardano"
    depth: int = Field(ge=1)
    drop: float = Field(default=0.5, ge=0, le=1)
    seed: int = 0


@dataclass(frozen=True, slots=True)
class Reorg:
    cutoff: int  # heights above it were replaced
    dropped: list[str]  # tx hashes no longer on chain
    reincluded: list[str]  # tx hashes in a block with a new hash

    def as_dict(self) -> dict[str, object]:
        return {"cutoff": self.cutoff, "dropped": self.dropped, "reincluded": self.reincluded}


def reorg_cardano(chain: CardanoChain, depth: int, *, drop: float = 0.5, seed: int = 0) -> Reorg:
    """Replace the last `depth` blocks: drop each of their transactions with probability `drop`."""
    if depth < 1:
        raise ValueError("a reorg replaces at least one block")
    if not 0 <= drop <= 1:
        raise ValueError("drop is a probability")
    cutoff = chain.tip_height - depth
    rng = random.Random(f"{chain.seed}:reorg:{len(chain.fork_cutoffs)}:{seed}")
    chain.fork_cutoffs.append(cutoff)
    affected = [i for i, tx in enumerate(chain.txs) if i not in chain.dropped and tx.height > cutoff]
    affected.sort(key=lambda i: (chain.txs[i].height, chain.txs[i].tx_index, i))
    gone: set[str] = set()
    dropped: list[str] = []
    reincluded: list[str] = []
    for i in affected:
        tx = chain.txs[i]
        depends = any(spent_hash in gone for spent_hash, _ in tx.spends)
        if depends or rng.random() < drop:
            gone.add(tx.hash)
            chain.dropped.add(i)
            dropped.append(tx.hash)
        else:
            reincluded.append(tx.hash)
    _rebuild(chain)
    return Reorg(cutoff=cutoff, dropped=dropped, reincluded=reincluded)


def _rebuild(chain: CardanoChain) -> None:
    """Indexes and the UTxO set replayed from the surviving transactions."""
    chain.hash_index = {tx.hash: i for i, tx in enumerate(chain.txs) if i not in chain.dropped}
    chain.address_txs = {
        address: [i for i in ids if i not in chain.dropped] for address, ids in chain.address_txs.items()
    }
    # Funding outputs from outside the simulated world are never in the UTxO set before their
    # spender; only outputs of simulated transactions are. Replay in creation order.
    chain.utxos = {}
    chain.consumed_by = {}
    for i, tx in enumerate(chain.txs):
        if i not in chain.dropped:
            apply_tx(chain, tx)


def drop_solana_newest(chain: SolanaChain, count: int) -> list[str]:
    """Drop the `count` newest transactions of the Solana chain (by slot), as a fork abandoned before
    they were finalized: unlisted, `getTransaction` null, their balance changes undone (newest first;
    nothing later depends on them). A token account they had closed is open again. Their signatures."""
    live = sorted(chain.sig_index.values(), key=lambda i: (chain.txs[i].slot, i))
    dropped = live[-count:] if count > 0 else []
    for i in reversed(dropped):
        tx = chain.txs[i]
        chain.lamports[tx.payer] += tx.fee
        if not tx.failed:
            if tx.kind == SOL_TRANSFER:
                chain.lamports[tx.payer] += tx.amount
                chain.lamports[tx.dest] -= tx.amount
            else:
                chain.token_amount[tx.source] += tx.amount
                chain.token_amount[tx.dest] -= tx.amount
        del chain.sig_index[tx.signature]
    gone = set(dropped)
    for account, ids in chain.address_txs.items():
        if gone.intersection(ids):
            chain.address_txs[account] = [i for i in ids if i not in gone]
    chain.closed_token_accounts = {ta for ta in chain.closed_token_accounts if chain.token_amount[ta] == 0}
    return [chain.txs[i].signature for i in dropped]
