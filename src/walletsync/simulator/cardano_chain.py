"""The simulator's synthetic Cardano chain: Shelley addresses, native assets and UTXO transactions.

Transactions are compact `CardanoTx` tuples of inputs and outputs; Blockfrost bodies are built on
demand (see `blockfrost`). As on the real chain, a wallet's balance is its unspent outputs, and a
few transactions carry the traps an indexer must handle:
- a script transaction whose validation failed (`valid=False`) consumes only its collateral input
  and creates only its collateral return output; its regular inputs stay unspent;
- a valid script transaction lists a collateral input that is NOT consumed, and a reference input
  (read, not spent) from an outside address.
Outside counterparties spend synthetic outputs of transactions that are not part of the ledger.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from typing import Any, NamedTuple

from walletsync.simulator.encoding import asset_fingerprint, bech32_encode

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
_ASSET_SPECS: tuple[tuple[str, str, int | None, str], ...] = (
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
    source: str = "registry"  # "registry", "cip68" or "none" (see _ASSET_SPECS)

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


def _digest(seed: int, *parts: object, size: int = 28) -> bytes:
    text = ":".join(["walletsync-sim", str(seed), *map(str, parts)])
    return hashlib.sha256(text.encode()).digest()[:size]


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
        for i, (ticker, name, decimals, source) in enumerate(_ASSET_SPECS):
            policy = _digest(seed, "policy", i).hex()
            asset_name = (CIP68_FT_LABEL if source == "cip68" else "") + ticker.encode().hex()
            asset = NativeAsset(
                unit=policy + asset_name,
                policy_id=policy,
                asset_name=asset_name,
                ticker=ticker,
                name=name,
                decimals=decimals,
                fingerprint=asset_fingerprint(policy, asset_name),
                initial_mint_tx_hash=_digest(seed, "mint-tx", i, size=32).hex(),
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
        payment = _digest(self.seed, "payment", *parts)
        stake: str | None = None
        if kind == "base":
            stake_hash = _digest(self.seed, "stake", *(stake_key or parts))
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
        gen = _PassGenerator(self, pass_no, tx_counts, interact=interact, one_stake=one_stake)
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


class _PassGenerator:
    """Builds one pass: its wallets, outside addresses and transaction history."""

    OUTSIDERS = 5

    def __init__(
        self,
        chain: CardanoChain,
        pass_no: int,
        tx_counts: list[int],
        *,
        interact: bool,
        one_stake: bool = False,
    ) -> None:
        self.chain = chain
        self.pass_no = pass_no
        self.rng = random.Random(f"{chain.seed}:cardano:{pass_no}")
        self.interact = interact and len(tx_counts) > 1
        self.remaining = list(tx_counts)
        stake_key = ("stake-wallet", pass_no) if one_stake else None
        self.wallets = [
            chain.new_address("wallet", pass_no, i, stake_key=stake_key) for i in range(len(tx_counts))
        ]
        self.outsiders = [
            chain.new_address("outside", pass_no, i, kind="enterprise" if i % 2 else "base")
            for i in range(self.OUTSIDERS)
        ]
        self.script = chain.new_address("script", pass_no, kind="script")
        total = max(1, sum(tx_counts))
        self.avg_gap = max(1, WINDOW_BLOCKS // total)
        self.height = ANCHOR_HEIGHT - TIP_DEPTH - WINDOW_BLOCKS - self.rng.randrange(50)
        self.tx_index = 0

    # --- helpers ----------------------------------------------------------------------------

    def _hash(self) -> str:
        return self.rng.getrandbits(256).to_bytes(32, "big").hex()

    def _outside_input(
        self, address: int, lovelace: int, assets: tuple[tuple[int, int], ...] = ()
    ) -> InputRef:
        return InputRef(self._hash(), self.rng.randrange(4), Output(address, lovelace, assets))

    def _simple_fee(self) -> tuple[int, int]:
        size = self.rng.randrange(250, 900)
        return 155_381 + 44 * size, size

    def _record(
        self,
        *,
        fee: int,
        size: int,
        inputs: list[InputRef],
        outputs: list[Output],
        payer: int,
        spends: list[InputRef],
        valid: bool = True,
        redeemers: int = 0,
    ) -> None:
        chain, rng = self.chain, self.rng
        gap = rng.randrange(0, 2 * self.avg_gap + 1)
        if gap == 0 and self.tx_index < 250:
            self.tx_index += 1
        else:
            self.height += max(1, gap)
            self.tx_index = rng.randrange(0, 40)
        chain.max_height = max(chain.max_height, self.height)
        tx = CardanoTx(
            hash=self._hash(),
            height=self.height,
            tx_index=self.tx_index,
            fee=fee,
            valid=valid,
            inputs=tuple(inputs),
            outputs=tuple(outputs),
            size=size,
            redeemer_count=redeemers,
            payer=payer,
            spends=tuple((ref.tx_hash, ref.output_index) for ref in spends),
        )
        idx = len(chain.txs)
        chain.txs.append(tx)
        chain.hash_index[tx.hash] = idx
        apply_tx(chain, tx)
        touched = [i.output.address for i in inputs if not i.reference] + [o.address for o in outputs]
        for address in dict.fromkeys(touched):
            chain.address_txs.setdefault(address, []).append(idx)

    def _wallet_utxos(self, w: int) -> list[InputRef]:
        return [InputRef(h, n, out) for (h, n), out in self.chain.utxos.get(w, {}).items()]

    def _select(self, w: int, need: int) -> list[InputRef] | None:
        utxos = self._wallet_utxos(w)
        if len(utxos) > 6:  # consolidate, so a long history keeps a small UTXO set
            return utxos if sum(u.output.lovelace for u in utxos) >= need else None
        chosen: list[InputRef] = []
        total = 0
        for u in utxos:
            chosen.append(u)
            total += u.output.lovelace
            if total >= need:
                return chosen
        return None

    @staticmethod
    def _sum_assets(inputs: list[InputRef]) -> dict[int, int]:
        held: dict[int, int] = {}
        for i in inputs:
            for asset, qty in i.output.assets:
                held[asset] = held.get(asset, 0) + qty
        return held

    def _asset_qty(self, asset: int) -> int:
        scale: int = 10 ** (self.chain.assets[asset].decimals or 0)
        return self.rng.randrange(1, 5000) * scale

    # --- events -----------------------------------------------------------------------------

    def _receive(self, w: int) -> None:
        rng = self.rng
        sender = rng.choice(self.outsiders)
        amount = rng.randrange(2, 800) * ADA + rng.randrange(ADA)
        assets: tuple[tuple[int, int], ...] = ()
        if rng.random() < 0.45:
            asset = rng.randrange(len(self.chain.assets))
            assets = ((asset, self._asset_qty(asset)),)
        fee, size = self._simple_fee()
        change = rng.randrange(10, 10_000) * ADA
        extra = tuple((a, q * 3) for a, q in assets)
        source = self._outside_input(sender, amount + fee + change, tuple((a, q * 4) for a, q in assets))
        outputs = [Output(w, amount, assets), Output(sender, change, extra)]
        self._record(fee=fee, size=size, inputs=[source], outputs=outputs, payer=sender, spends=[source])

    def _send(self, w: int, others: list[int]) -> bool:
        rng = self.rng
        fee, size = self._simple_fee()
        amount = rng.randrange(1, 200) * ADA + rng.randrange(ADA)
        inputs = self._select(w, amount + fee + 2 * ADA)
        if inputs is None:
            return False
        dest = rng.choice(others) if others and rng.random() < 0.4 else rng.choice(self.outsiders)
        held = self._sum_assets(inputs)
        sent: tuple[tuple[int, int], ...] = ()
        if held and rng.random() < 0.4:
            asset = rng.choice(sorted(held))
            qty = rng.randrange(1, held[asset] + 1)
            sent = ((asset, qty),)
            held[asset] -= qty
        total = sum(i.output.lovelace for i in inputs)
        change_assets = tuple(sorted((a, q) for a, q in held.items() if q > 0))
        outputs = [Output(dest, amount, sent), Output(w, total - amount - fee, change_assets)]
        self._record(fee=fee, size=size, inputs=inputs, outputs=outputs, payer=w, spends=inputs)
        return True

    def _script(self, w: int, *, succeed: bool) -> bool:
        rng, chain = self.rng, self.chain
        size = rng.randrange(1500, 5000)
        fee = 155_381 + 44 * size + rng.randrange(100_000, 400_000)
        price = rng.randrange(5, 100) * ADA
        inputs = self._select(w, price + fee + 2 * ADA)
        if inputs is None:
            return False
        spent_keys = {(i.tx_hash, i.output_index) for i in inputs}
        spare = [u for u in self._wallet_utxos(w) if (u.tx_hash, u.output_index) not in spent_keys]
        collateral_src = max(spare or inputs, key=lambda u: u.output.lovelace)
        if collateral_src.output.lovelace < fee + 2 * ADA:
            return False
        asset = rng.randrange(len(chain.assets))
        bought = self._asset_qty(asset)
        datum = rng.getrandbits(64).to_bytes(8, "big").hex()
        pool = self._outside_input(self.script, 5000 * ADA, ((asset, bought * 50),))
        pool = pool._replace(output=pool.output._replace(inline_datum=datum))
        collateral = collateral_src._replace(collateral=True)
        reference = InputRef(
            self._hash(),
            0,
            Output(rng.choice(self.outsiders), 20 * ADA, ()),
            reference=True,
            reference_script_hash=_digest(chain.seed, "script-hash", self.pass_no).hex(),
        )
        all_inputs = [*inputs, pool, collateral, reference]
        if not succeed:
            returned = collateral_src.output._replace(lovelace=collateral_src.output.lovelace - fee)
            self._record(
                fee=fee,
                size=size,
                inputs=all_inputs,
                outputs=[returned],
                valid=False,
                redeemers=1,
                payer=w,
                spends=[collateral_src],  # failed scripts: only the collateral is taken
            )
            return True
        held = self._sum_assets(inputs)
        held[asset] = held.get(asset, 0) + bought
        total = sum(i.output.lovelace for i in inputs)
        outputs = [
            Output(self.script, 5000 * ADA + price, ((asset, bought * 49),), inline_datum=datum),
            Output(w, total - price - fee, tuple(sorted(held.items()))),
        ]
        self._record(
            fee=fee,
            size=size,
            inputs=all_inputs,
            outputs=outputs,
            redeemers=1,
            payer=w,
            spends=[*inputs, pool],
        )
        return True

    def _event(self, w: int, others: list[int]) -> None:
        roll = self.rng.random()
        done = False
        if roll < 0.45:
            done = self._send(w, others)
        elif roll < 0.55:
            done = self._script(w, succeed=True)
        elif roll < 0.62:
            done = self._script(w, succeed=False)
        if not done:
            self._receive(w)

    def run(self) -> None:
        for w, count in zip(self.wallets, self.remaining, strict=True):
            if count > 0:
                self._receive(w)
        self.remaining = [max(0, c - 1) for c in self.remaining]
        active = [i for i, c in enumerate(self.remaining) if c > 0]
        chain = self.chain
        while active:
            i = self.rng.choice(active)
            others = [self.wallets[j] for j in active if j != i] if self.interact else []
            before = len(chain.txs)
            self._event(self.wallets[i], others)
            tx = chain.txs[before]
            involved = {ref.output.address for ref in tx.inputs if not ref.reference}
            involved.update(o.address for o in tx.outputs)
            for j in active:
                if self.wallets[j] in involved:
                    self.remaining[j] -= 1
            active = [j for j in active if self.remaining[j] > 0]
