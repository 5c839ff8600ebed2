"""The simulator's synthetic Solana chain: accounts, SPL mints, token accounts and transactions.

Everything derives from the seed. Transactions are stored as compact `SolTx` tuples that carry the
pre-balances of the accounts they touch, so a JSON body can be built on demand (see `solana_rpc`)
without replaying history. A "pass" generates one group of wallets that trade with each other and
with their own pool of outside accounts; wallets added later get a pass of their own, so adding one
never changes what is already there.

What real chains do that the simulator reproduces on purpose:
- an SPL transfer touches token accounts, not the receiving owner: it is listed under the receiving
  token account's signatures, not under the owner's, unless the owner signs;
- a failed transaction still charges its fee and changes nothing else;
- fees are 5000 lamports per signature plus an optional priority fee (compute-unit price x limit);
- wallets close token accounts after use: at the end of a pass of trading wallets, some of their
  token accounts are emptied by one last transfer and closed. A closed account is no longer listed
  by `getTokenAccountsByOwner` (nor served by `getAccountInfo`), yet the transfers into it stay
  listed only under its own address: an indexer finds it only through the owner's transactions.
"""

from __future__ import annotations

import hashlib
import random
from bisect import bisect_left
from collections.abc import Iterable
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

_MINT_SPECS = (("USDC", "USD Coin", 6), ("WSIM", "Wrapped Sim", 9), ("BONKS", "Bonks", 5))


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


def _key(seed: int, *parts: object) -> str:
    return b58encode(
        hashlib.sha256(":".join(["walletsync-sim", str(seed), *map(str, parts)]).encode()).digest()
    )


class SolanaChain:
    """All Solana state of one simulated ledger; read by `solana_rpc` and the ground-truth API."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.accounts: list[str] = []
        self.account_index: dict[str, int] = {}
        self.lamports: list[int] = []  # final balance per account index
        self.token_accounts: dict[int, TokenAccount] = {}  # account index -> token account
        self.token_amount: dict[int, int] = {}  # token account index -> final amount
        self.owner_token_accounts: dict[int, dict[int, int]] = {}  # owner -> mint -> token account
        self.closed_token_accounts: set[int] = set()  # emptied and closed: no longer listed by owner
        self.closed_mints: set[str] = set()  # mint accounts closed since (getAccountInfo null); tests set it
        self.txs: list[SolTx] = []
        self.sig_index: dict[str, int] = {}
        self.address_txs: dict[int, list[int]] = {}  # account index -> tx indices, oldest first
        self.wallets: list[str] = []
        self.max_slot = ANCHOR_SLOT
        self.passes = 0
        # Slots between the confirmed tip and the finalized one (0: everything is finalized). With
        # a lag, `finalized` requests do not see the newest transactions, `confirmed` ones do.
        self.finality_lag = 0
        self.mints: list[Mint] = []
        self.mint_index: dict[str, int] = {}
        for i, (symbol, name, decimals) in enumerate(_MINT_SPECS):
            mint = Mint(
                address=_key(seed, "mint", i),
                symbol=symbol,
                name=name,
                decimals=decimals,
                authority=_key(seed, "mint-authority", i),
                supply=10**15,
            )
            self.mints.append(mint)
            self.mint_index[mint.address] = i
        # Token metadata (`solana_accounts`): Metaplex accounts for the first two mints (the third
        # has none), and one Token-2022 mint with the token-metadata extension, traded by no one.
        self.metaplex: dict[str, tuple[str, str, str]] = {
            m.address: (m.name, m.symbol, f"https://example.invalid/{m.symbol.lower()}.json")
            for m in self.mints[:2]
        }
        points = Mint(
            address=_key(seed, "mint-2022", 0),
            symbol="SPTS",
            name="Sim Points",
            decimals=2,
            authority=_key(seed, "mint-authority-2022", 0),
            supply=10**12,
        )
        self.token2022_mints: list[Mint] = [points]
        self.token2022_metadata: dict[str, tuple[str, str, str]] = {
            points.address: (points.name, points.symbol, "https://example.invalid/spts.json")
        }

    # --- building ---------------------------------------------------------------------------

    def _new_account(self, address: str, lamports: int) -> int:
        idx = len(self.accounts)
        self.accounts.append(address)
        self.account_index[address] = idx
        self.lamports.append(lamports)
        return idx

    def _new_token_account(self, owner: int, mint: int, amount: int) -> int:
        idx = self._new_account(_key(self.seed, "ata", self.accounts[owner], mint), TOKEN_ACCOUNT_RENT)
        self.token_accounts[idx] = TokenAccount(self.accounts[idx], owner, mint)
        self.token_amount[idx] = amount
        self.owner_token_accounts.setdefault(owner, {})[mint] = idx
        return idx

    def add_pass(self, tx_counts: list[int], *, interact: bool) -> list[str]:
        """Generate wallets with about `tx_counts[i]` transactions each (exactly, when not `interact`).

        `interact` lets the pass's wallets pay each other; without it every transaction is between
        one wallet and an outside account, so counts are exact.
        """
        pass_no = self.passes
        self.passes += 1
        gen = _PassGenerator(self, pass_no, tx_counts, interact=interact)
        gen.run()
        self.wallets.extend(self.accounts[w] for w in gen.wallets)
        return [self.accounts[w] for w in gen.wallets]

    # --- reading ----------------------------------------------------------------------------

    @property
    def latest_slot(self) -> int:
        """The chain tip: a little past the newest transaction, so all history is finalized."""
        return self.max_slot + 150

    @property
    def finalized_slot(self) -> int:
        return self.latest_slot - self.finality_lag

    def visible(self, tx: SolTx, commitment: str | None) -> bool:
        """Whether a request at `commitment` (finalized when None, as the RPC defaults) sees `tx`."""
        return commitment == "confirmed" or tx.slot <= self.finalized_slot

    def signatures_for(self, address: str) -> list[int]:
        """Tx indices touching `address` (in the tx's account keys), oldest first."""
        idx = self.account_index.get(address)
        return self.address_txs.get(idx, []) if idx is not None else []

    def position_of(self, tx_ids: list[int], signature: str) -> int | None:
        """Position of `signature` in an address's tx list, or None when it is not there."""
        tx = self.sig_index.get(signature)
        if tx is None:
            return None
        pos = bisect_left(tx_ids, tx)
        return pos if pos < len(tx_ids) and tx_ids[pos] == tx else None

    def recent_blockhash(self, slot: int) -> str:
        return _key(self.seed, "blockhash", slot)


class _PassGenerator:
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
            chain._new_account(_key(seed, "wallet", pass_no, i), 0) for i in range(len(tx_counts))
        ]
        self.outsiders = [
            chain._new_account(_key(seed, "outside", pass_no, i), 10**6 * LAMPORTS_PER_SOL)
            for i in range(self.OUTSIDERS)
        ]
        for o in self.outsiders:
            for m in range(len(chain.mints)):
                chain._new_token_account(o, m, 10**14)
        for n, w in enumerate(self.wallets):
            mints = list(range(len(chain.mints)))
            self.rng.shuffle(mints)
            for m in sorted(mints[: 1 + n % len(mints)] if n else mints):
                chain._new_token_account(w, m, 0)
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
