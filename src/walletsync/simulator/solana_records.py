"""The simulator's Solana ledger records: program ids, rents, fees, the slot clock and compact txs.

Transactions are stored as compact `SolTx` tuples that carry the pre-balances of the accounts they
touch, so a JSON body can be built on demand (see `solana_rpc`, `solana_txs`) without replaying
history. Every address derives from the seed (`derive_key`). The chain state is `solana_chain`;
how a pass of history is generated is `solana_history`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import NamedTuple

from walletsync.simulator.encoding import b58encode

SYSTEM_PROGRAM = "11111111111111111111111111111111"
TOKEN_PROGRAM = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"  # noqa: S105 - a program id
COMPUTE_BUDGET_PROGRAM = "ComputeBudget111111111111111111111111111111"
TOKEN_ACCOUNT_RENT = 2_039_280
MINT_RENT = 1_461_600
TOKEN_PROGRAM_LAMPORTS = 934_087_680
BASE_FEE = 5000
LAMPORTS_PER_SOL = 1_000_000_000

ANCHOR_TS = 1_748_736_000  # 2025-06-01T00:00:00Z: the newest history is just before it
ANCHOR_SLOT = 340_000_000
WINDOW_SLOTS = 60 * 216_000  # 60 days of 400 ms slots

SOL_TRANSFER = 0
SPL_TRANSFER = 1
LEGACY = -1  # SolTx.version for a legacy message; 0 for a v0 message

MINT_SPECS = (("USDC", "USD Coin", 6), ("WSIM", "Wrapped Sim", 9), ("BONKS", "Bonks", 5))


class SolTx(NamedTuple):
    """One transaction, compact: indices into `SolanaChain.accounts` plus the balances before it."""

    signature: str
    slot: int
    block_time: int
    kind: int  # SOL_TRANSFER or SPL_TRANSFER
    failed: bool
    version: int  # 0 or LEGACY
    fee: int
    cu_limit: int  # 0 when the tx sets no compute budget
    cu_price: int  # micro-lamports per compute unit
    payer: int  # fee payer and signer (owner of the source token account for SPL)
    source: int  # SOL: == payer; SPL: source token account
    dest: int  # SOL: receiving account; SPL: destination token account
    mint: int  # index into SolanaChain.mints, -1 for SOL
    amount: int
    pre_payer: int  # lamports of the payer before the tx
    pre_dest: int  # SOL: lamports of dest before; SPL: token amount of dest before
    pre_source_tokens: int  # SPL: token amount of the source token account before; SOL: 0


@dataclass(frozen=True, slots=True)
class Mint:
    address: str
    symbol: str
    name: str
    decimals: int
    authority: str
    supply: int


@dataclass(frozen=True, slots=True)
class TokenAccount:
    address: str
    owner: int  # account index of the owner
    mint: int  # index into mints


def slot_time(slot: int) -> int:
    """blockTime of a slot: one global mapping, so every pass agrees on time."""
    return ANCHOR_TS - (ANCHOR_SLOT - slot) * 2 // 5


def derive_key(seed: int, *parts: object) -> str:
    return b58encode(
        hashlib.sha256(":".join(["walletsync-sim", str(seed), *map(str, parts)]).encode()).digest()
    )
