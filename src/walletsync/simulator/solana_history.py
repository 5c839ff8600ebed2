"""How the simulator generates one pass of Solana history, with the traps an indexer must handle.

What real chains do that the simulator reproduces on purpose:
- an SPL transfer touches token accounts, not the receiving owner: it is listed under the receiving
  token account's signatures, not under the owner's, unless the owner signs;
- a failed transaction still charges its fee and changes nothing else;
- fees are 5000 lamports per signature plus an optional priority fee (compute-unit price x limit);
- wallets close token accounts after use: at the end of a pass of trading wallets, some of their
  token accounts are emptied by one last transfer and closed. A closed account is no longer listed
  by `getTokenAccountsByOwner` (nor served by `getAccountInfo`), yet the transfers into it stay
  listed only under its own address: an indexer finds it only through the owner's transactions.

Each pass draws from a random stream seeded by the chain seed and the pass number.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import TYPE_CHECKING

from walletsync.simulator.encoding import b58encode
from walletsync.simulator.solana_records import (
    ANCHOR_SLOT,
    BASE_FEE,
    LAMPORTS_PER_SOL,
    LEGACY,
    SOL_TRANSFER,
    SPL_TRANSFER,
    WINDOW_SLOTS,
    SolTx,
    derive_key,
    slot_time,
)

if TYPE_CHECKING:
    from walletsync.simulator.solana_chain import SolanaChain


class PassGenerator:
    """Builds one pass: its wallets, outside accounts, token accounts and transaction history."""

    OUTSIDERS = 6

    def __init__(self, chain: SolanaChain, pass_no: int, tx_counts: list[int], *, interact: bool) -> None:
        self.chain = chain
        self.pass_no = pass_no
        self.rng = random.Random(f"{chain.seed}:solana:{pass_no}")
        self.interact = interact and len(tx_counts) > 1
        self.remaining = list(tx_counts)
        seed = chain.seed
        self.wallets = [
            chain.new_account(derive_key(seed, "wallet", pass_no, i), 0) for i in range(len(tx_counts))
        ]
        self.outsiders = [
            chain.new_account(derive_key(seed, "outside", pass_no, i), 10**6 * LAMPORTS_PER_SOL)
            for i in range(self.OUTSIDERS)
        ]
        for o in self.outsiders:
            for m in range(len(chain.mints)):
                chain.new_token_account(o, m, 10**14)
        for n, w in enumerate(self.wallets):
            mints = list(range(len(chain.mints)))
            self.rng.shuffle(mints)
            for m in sorted(mints[: 1 + n % len(mints)] if n else mints):
                chain.new_token_account(w, m, 0)
        total = max(1, sum(tx_counts))
        avg_gap = max(1, WINDOW_SLOTS // total)
        self.max_gap = 2 * avg_gap
        self.slot = ANCHOR_SLOT - WINDOW_SLOTS - self.rng.randrange(1000)

    # --- helpers ----------------------------------------------------------------------------

    def _signature(self) -> str:
        return b58encode(self.rng.getrandbits(512).to_bytes(64, "big"))

    def _fee(self, kind: int) -> tuple[int, int, int]:
        if self.rng.random() < 0.35:
            cu_limit = self.rng.choice((600, 1000, 3000) if kind == SOL_TRANSFER else (6000, 20_000, 40_000))
            cu_price = self.rng.choice((1000, 25_000, 100_000, 1_000_000))
            return BASE_FEE + -(-cu_limit * cu_price // 1_000_000), cu_limit, cu_price
        return BASE_FEE, 0, 0

    def _record(
        self,
        *,
        kind: int,
        failed: bool,
        payer: int,
        source: int,
        dest: int,
        mint: int,
        amount: int,
        indexed: Iterable[int],
    ) -> None:
        chain = self.chain
        self.slot += 1 + self.rng.randrange(self.max_gap)
        chain.max_slot = max(chain.max_slot, self.slot)
        fee, cu_limit, cu_price = self._fee(kind)
        lamports = chain.lamports
        tokens = chain.token_amount
        pre_payer = lamports[payer]
        if kind == SOL_TRANSFER:
            pre_dest, pre_source_tokens = lamports[dest], 0
        else:
            pre_dest, pre_source_tokens = tokens[dest], tokens[source]
        lamports[payer] -= fee
        if not failed:
            if kind == SOL_TRANSFER:
                lamports[payer] -= amount
                lamports[dest] += amount
            else:
                tokens[source] -= amount
                tokens[dest] += amount
        tx = SolTx(
            signature=self._signature(),
            slot=self.slot,
            block_time=slot_time(self.slot),
            kind=kind,
            failed=failed,
            version=0 if self.rng.random() < 0.5 else LEGACY,
            fee=fee,
            cu_limit=cu_limit,
            cu_price=cu_price,
            payer=payer,
            source=source,
            dest=dest,
            mint=mint,
            amount=amount,
            pre_payer=pre_payer,
            pre_dest=pre_dest,
            pre_source_tokens=pre_source_tokens,
        )
        idx = len(chain.txs)
        chain.txs.append(tx)
        chain.sig_index[tx.signature] = idx
        for account in dict.fromkeys(indexed):
            chain.address_txs.setdefault(account, []).append(idx)

    # --- events -----------------------------------------------------------------------------

    def _sol(self, src: int, dst: int, amount: int, *, failed: bool = False) -> None:
        self._record(
            kind=SOL_TRANSFER,
            failed=failed,
            payer=src,
            source=src,
            dest=dst,
            mint=-1,
            amount=amount,
            indexed=(src, dst),
        )

    def _spl(self, owner: int, mint: int, dst_owner: int, amount: int, *, failed: bool = False) -> None:
        chain = self.chain
        src_ta = chain.owner_token_accounts[owner][mint]
        dst_ta = chain.owner_token_accounts[dst_owner][mint]
        # the receiving owner is not among the account keys: only its token account is
        self._record(
            kind=SPL_TRANSFER,
            failed=failed,
            payer=owner,
            source=src_ta,
            dest=dst_ta,
            mint=mint,
            amount=amount,
            indexed=(owner, src_ta, dst_ta),
        )

    def _units(self, mint: int) -> int:
        decimals = self.chain.mints[mint].decimals
        scale: int = 10 ** max(0, decimals - 2)
        return self.rng.randrange(1, 5000) * scale

    def _event(self, w: int, others: list[int]) -> None:
        chain, rng = self.chain, self.rng
        outsider = rng.choice(self.outsiders)
        balance = chain.lamports[w]
        held = [(m, ta) for m, ta in chain.owner_token_accounts[w].items() if chain.token_amount[ta] > 0]
        roll = rng.random()
        if balance < LAMPORTS_PER_SOL // 100 or roll < 0.22:
            self._sol(outsider, w, rng.randrange(1, 3000) * LAMPORTS_PER_SOL // 100)
        elif roll < 0.44:
            counterpart = rng.choice(others) if others and rng.random() < 0.4 else outsider
            self._sol(w, counterpart, rng.randrange(1, max(2, balance // 4)))
        elif roll < 0.64:
            mint = rng.choice(list(chain.owner_token_accounts[w]))
            self._spl(outsider, mint, w, self._units(mint))
        elif roll < 0.84 and held:
            mint, ta = rng.choice(held)
            receivers = [o for o in others if mint in chain.owner_token_accounts[o]]
            counterpart = rng.choice(receivers) if receivers and rng.random() < 0.4 else outsider
            self._spl(w, mint, counterpart, rng.randrange(1, chain.token_amount[ta] + 1))
        elif roll < 0.92 and held:
            mint, ta = rng.choice(held)
            self._spl(w, mint, outsider, chain.token_amount[ta] + self._units(mint), failed=True)
        elif roll < 0.92:
            self._sol(w, outsider, rng.randrange(1, max(2, balance // 4)))
        else:
            self._sol(w, outsider, balance + rng.randrange(1, 10) * LAMPORTS_PER_SOL, failed=True)

    def close_some_token_accounts(self) -> None:
        """Empty about half of the wallets' funded token accounts into an outsider and close them.

        A separate random stream, so the trading history before it is the same with or without
        closing. Each closed account gets one last (owner-signed) transfer of its whole balance.
        """
        chain = self.chain
        rng = random.Random(f"{chain.seed}:solana-close:{self.pass_no}")
        for w in self.wallets:
            for mint, ta in sorted(chain.owner_token_accounts[w].items()):
                if chain.token_amount[ta] > 0 and rng.random() < 0.5:
                    self._spl(w, mint, rng.choice(self.outsiders), chain.token_amount[ta])
                    chain.closed_token_accounts.add(ta)

    def run(self) -> None:
        rng = self.rng
        for w, count in zip(self.wallets, self.remaining, strict=True):
            if count > 0:
                self._sol(rng.choice(self.outsiders), w, rng.randrange(5, 50) * LAMPORTS_PER_SOL)
        self.remaining = [max(0, c - 1) for c in self.remaining]
        active = [i for i, c in enumerate(self.remaining) if c > 0]
        while active:
            i = rng.choice(active)
            w = self.wallets[i]
            others = [self.wallets[j] for j in active if j != i] if self.interact else []
            before = len(self.chain.txs)
            self._event(w, others)
            tx = self.chain.txs[before]
            for j in active:
                if self._involves(tx, self.wallets[j]):
                    self.remaining[j] -= 1
            active = [j for j in active if self.remaining[j] > 0]
        if self.interact:
            self.close_some_token_accounts()

    def _involves(self, tx: SolTx, wallet: int) -> bool:
        if tx.payer == wallet or (tx.kind == SOL_TRANSFER and tx.dest == wallet):
            return True
        return tx.kind == SPL_TRANSFER and self.chain.token_accounts[tx.dest].owner == wallet
