"""The simulator's synthetic Solana chain state: accounts, SPL mints, token accounts and transactions.

Everything derives from the seed. A "pass" (`solana_history`) generates one group of wallets that
trade with each other and with their own pool of outside accounts; wallets added later get a pass of
their own, so adding one never changes what is already there. `SolanaChain` holds the result and
answers the reads of `solana_rpc` and the ground-truth API; the record types are `solana_records`.
"""

from __future__ import annotations

from bisect import bisect_left

from walletsync.simulator.solana_history import PassGenerator
from walletsync.simulator.solana_records import (
    ANCHOR_SLOT,
    MINT_SPECS,
    TOKEN_ACCOUNT_RENT,
    Mint,
    SolTx,
    TokenAccount,
    derive_key,
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
        for i, (symbol, name, decimals) in enumerate(MINT_SPECS):
            mint = Mint(
                address=derive_key(seed, "mint", i),
                symbol=symbol,
                name=name,
                decimals=decimals,
                authority=derive_key(seed, "mint-authority", i),
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
            address=derive_key(seed, "mint-2022", 0),
            symbol="SPTS",
            name="Sim Points",
            decimals=2,
            authority=derive_key(seed, "mint-authority-2022", 0),
            supply=10**12,
        )
        self.token2022_mints: list[Mint] = [points]
        self.token2022_metadata: dict[str, tuple[str, str, str]] = {
            points.address: (points.name, points.symbol, "https://example.invalid/spts.json")
        }

    # --- building ---------------------------------------------------------------------------

    def new_account(self, address: str, lamports: int) -> int:
        idx = len(self.accounts)
        self.accounts.append(address)
        self.account_index[address] = idx
        self.lamports.append(lamports)
        return idx

    def new_token_account(self, owner: int, mint: int, amount: int) -> int:
        idx = self.new_account(derive_key(self.seed, "ata", self.accounts[owner], mint), TOKEN_ACCOUNT_RENT)
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
        gen = PassGenerator(self, pass_no, tx_counts, interact=interact)
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
        return derive_key(self.seed, "blockhash", slot)
