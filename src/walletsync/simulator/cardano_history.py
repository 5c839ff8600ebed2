"""How the simulator generates one pass of Cardano history: wallets, counterparties, transactions.

A pass is a group of wallets (optionally under one stake key) with their own outside addresses and
script address; `PassGenerator` draws their receives, sends and script transactions (some failing
validation) from a random stream seeded by the chain seed and the pass number, so adding a pass
never changes an earlier one. Each transaction goes through `cardano_records.apply_tx`.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from walletsync.simulator.cardano_records import (
    ADA,
    ANCHOR_HEIGHT,
    TIP_DEPTH,
    WINDOW_BLOCKS,
    CardanoTx,
    InputRef,
    Output,
    apply_tx,
    digest,
)

if TYPE_CHECKING:
    from walletsync.simulator.cardano_chain import CardanoChain


class PassGenerator:
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
            reference_script_hash=digest(chain.seed, "script-hash", self.pass_no).hex(),
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
