"""`Ledger`: the simulator's deterministic synthetic world and the ground truth tests compare against.

One seed gives one Solana chain, one Cardano chain and one set of market series; the same seed (and
the same sequence of `add_*_wallet` calls) gives identical wallets, transactions and response
bodies. The chains live in `solana_chain` and `cardano_chain`, market data in `market`; this module
is the public face: wallet lists, per-wallet transaction ids, balances, decimals and candles.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from walletsync.config import Chain
from walletsync.providers.types import Candle
from walletsync.simulator.cardano_chain import CardanoChain
from walletsync.simulator.market import MarketData
from walletsync.simulator.solana_chain import SolanaChain
from walletsync.simulator.solana_records import SPL_TRANSFER
from walletsync.simulator.staking import CardanoRewards, SolanaStakes


class Ledger:
    """A deterministic synthetic ledger.

    `solana_wallets` / `cardano_wallets` wallets trade with each other and outside accounts, each with
    a transaction count drawn from `txs_per_wallet` (approximate: a transfer between two wallets counts
    for both). Each count in `exact_solana_wallets` / `exact_cardano_wallets` adds one wallet with
    exactly that many transactions (e.g. 100_000 for a backfill benchmark, 80 for a latency one).
    """

    def __init__(
        self,
        seed: int = 42,
        *,
        solana_wallets: int = 3,
        cardano_wallets: int = 3,
        txs_per_wallet: tuple[int, int] = (20, 60),
        exact_solana_wallets: Sequence[int] = (),
        exact_cardano_wallets: Sequence[int] = (),
    ) -> None:
        lo, hi = txs_per_wallet
        if not 1 <= lo <= hi:
            raise ValueError("txs_per_wallet must be (min, max) with 1 <= min <= max")
        self.seed = seed
        self.solana = SolanaChain(seed)
        self.cardano = CardanoChain(seed)
        self.market = MarketData(seed)
        rng = random.Random(f"{seed}:counts")
        if solana_wallets:
            self.solana.add_pass([rng.randint(lo, hi) for _ in range(solana_wallets)], interact=True)
        if cardano_wallets:
            self.cardano.add_pass([rng.randint(lo, hi) for _ in range(cardano_wallets)], interact=True)
        for n in exact_solana_wallets:
            self.add_solana_wallet(n)
        for n in exact_cardano_wallets:
            self.add_cardano_wallet(n)

    # --- growing ----------------------------------------------------------------------------

    def add_solana_wallet(self, n_txs: int) -> str:
        """Add a wallet with exactly `n_txs` transactions (all with outside accounts); its address."""
        if n_txs < 1:
            raise ValueError("a wallet needs at least one transaction (its funding)")
        return self.solana.add_pass([n_txs], interact=False)[0]

    def add_cardano_wallet(self, n_txs: int) -> str:
        """Add a Cardano wallet with exactly `n_txs` transactions; its address."""
        if n_txs < 1:
            raise ValueError("a wallet needs at least one transaction (its funding)")
        return self.cardano.add_pass([n_txs], interact=False)[0]

    def add_cardano_stake_wallet(self, tx_counts: Sequence[int]) -> str:
        """Add a stake-address wallet: one payment address per count, each with exactly that many
        transactions, all under one stake key; its `stake1…` address."""
        addresses = self.cardano.add_pass(list(tx_counts), interact=False, one_stake=True)
        stake = self.cardano.stake_addresses[self.cardano.address_index[addresses[0]]]
        assert stake is not None
        return stake

    def stake_wallet_addresses(self, stake: str) -> list[str]:
        """The payment addresses of a stake address (what `/accounts/{stake}/addresses` lists)."""
        return [self.cardano.addresses[i] for i in self.cardano.stake_addresses_of(stake)]

    # --- ground truth -----------------------------------------------------------------------

    @property
    def solana_wallets(self) -> list[str]:
        return list(self.solana.wallets)

    @property
    def cardano_wallets(self) -> list[str]:
        return list(self.cardano.wallets)

    def wallets(self, chain: Chain | str) -> list[str]:
        return self.solana_wallets if Chain(chain) is Chain.SOLANA else self.cardano_wallets

    def wallet_tx_ids(self, chain: Chain | str, address: str) -> set[str]:
        """Every transaction that changed a balance of the wallet, plus failed ones it paid fees for.

        Solana: transactions with the wallet among the account keys, and SPL transfers into its
        token accounts. Cardano: transactions spending from or paying to the address.
        """
        if Chain(chain) is Chain.SOLANA:
            sol = self.solana
            idx = sol.account_index.get(address)
            if idx is None:
                return set()
            ids = {sol.txs[t].signature for t in sol.address_txs.get(idx, [])}
            for ta in sol.owner_token_accounts.get(idx, {}).values():
                for t in sol.address_txs.get(ta, []):
                    tx = sol.txs[t]
                    if tx.kind == SPL_TRANSFER:
                        ids.add(tx.signature)
            return ids
        ada = self.cardano
        if address.startswith("stake"):  # a stake wallet: every address under it
            return set().union(
                *(self.wallet_tx_ids(Chain.CARDANO, a) for a in self.stake_wallet_addresses(address))
            )
        a = ada.address_index.get(address)
        if a is None:
            return set()
        return {ada.txs[t].hash for t in ada.address_txs.get(a, [])}

    def solana_lamports(self, address: str) -> int:
        idx = self.solana.account_index.get(address)
        return self.solana.lamports[idx] if idx is not None else 0

    def solana_token_accounts(self, owner: str, *, closed: bool = False) -> dict[str, str]:
        """mint -> token account address of an owner: the open ones (what the RPC lists by owner),
        or with `closed` only the ones closed after use."""
        sol = self.solana
        idx = sol.account_index.get(owner)
        if idx is None:
            return {}
        return {
            sol.mints[m].address: sol.accounts[ta]
            for m, ta in sol.owner_token_accounts.get(idx, {}).items()
            if (ta in sol.closed_token_accounts) is closed
        }

    def solana_token_balances(self, owner: str) -> dict[str, int]:
        """mint -> raw token amount across the owner's token accounts (zero balances included)."""
        sol = self.solana
        idx = sol.account_index.get(owner)
        if idx is None:
            return {}
        return {
            sol.mints[m].address: sol.token_amount[ta]
            for m, ta in sol.owner_token_accounts.get(idx, {}).items()
        }

    def mint_decimals(self, mint: str) -> int:
        return self.solana.mints[self.solana.mint_index[mint]].decimals

    @property
    def solana_mints(self) -> dict[str, int]:
        """mint address -> decimals."""
        return {m.address: m.decimals for m in self.solana.mints}

    def cardano_amounts(self, address: str) -> dict[str, int]:
        """unit -> quantity ("lovelace" for ADA) of the address's unspent outputs; non-zero units only.
        A stake address sums every address under it."""
        if address.startswith("stake"):
            total: dict[str, int] = {}
            for member in self.stake_wallet_addresses(address):
                for unit, qty in self.cardano_amounts(member).items():
                    total[unit] = total.get(unit, 0) + qty
            return {u: q for u, q in total.items() if q}
        idx = self.cardano.address_index.get(address)
        if idx is None:
            return {}
        return {u: q for u, q in self.cardano.amounts(idx).items() if q}

    def asset_metadata(self, unit: str) -> dict[str, Any] | None:
        """Off-chain metadata of a Cardano native asset (with `decimals`), or None if it has none."""
        return self.cardano.assets[self.cardano.asset_index[unit]].metadata()

    @property
    def cardano_assets(self) -> dict[str, int | None]:
        """unit -> decimals (None when neither the registry nor a CIP-68 datum states them)."""
        return {a.unit: a.decimals for a in self.cardano.assets}

    @property
    def solana_stakes(self) -> SolanaStakes:
        """The Solana stake accounts (tests close, compound or refuse them between syncs)."""
        return SolanaStakes.of(self.solana)

    @property
    def cardano_rewards(self) -> CardanoRewards:
        """The Cardano reward accounts (tests withdraw or refuse them between syncs)."""
        return CardanoRewards.of(self.cardano)

    def cardano_stake_address(self, address: str) -> str | None:
        """The stake address of a wallet: a stake wallet is its own; a base address has one."""
        if address.startswith("stake"):
            return address
        idx = self.cardano.address_index.get(address)
        return self.cardano.stake_addresses[idx] if idx is not None else None

    def staking(self, chain: Chain | str, address: str) -> dict[tuple[str, str], int]:
        """Ground truth of a wallet's staking lines: (kind, source) -> base units, non-zero only.
        Solana: `staked` per stake account it stakes or withdraws; Cardano: `rewards` of its stake
        address (unwithdrawn)."""
        if Chain(chain) is Chain.SOLANA:
            lines = {("staked", a): n for a, n in self.solana_stakes.expected_staked(address).items()}
        else:
            stake = self.cardano_stake_address(address)
            earned = self.cardano_rewards.expected_rewards(stake) if stake else 0
            lines = {("rewards", stake): earned} if stake else {}
        return {key: amount for key, amount in lines.items() if amount}

    def candles(self, symbol: str, interval: str) -> list[Candle]:
        """The full OHLCV series the simulator serves for (symbol, interval), oldest first."""
        return self.market.candles(symbol, interval)

    def summary(self) -> dict[str, Any]:
        """Wallets with their transaction counts (what `GET /_admin/ledger` and the CLI print)."""
        return {
            "seed": self.seed,
            "solana": [
                {"address": a, "txs": len(self.wallet_tx_ids(Chain.SOLANA, a))} for a in self.solana.wallets
            ],
            "cardano": [
                {"address": a, "txs": len(self.wallet_tx_ids(Chain.CARDANO, a))} for a in self.cardano.wallets
            ],
            "symbols": sorted(self.market.instruments),
        }
