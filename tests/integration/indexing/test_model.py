"""A model-based test of the whole indexer: hypothesis drives the simulator and the sync with random
steps (new wallets and transactions, provider faults, a sync cancelled mid-page, a worker killed
mid-sync, a Cardano reorg, re-syncs). After every step that completes a sync, the wallet's indexed
transactions equal the simulator's ledger (no duplicates, no gaps) and so do its balances per asset.

Bounded for CI (a handful of examples of a few steps, well under 3 minutes); `WALLETSYNC_MODEL_EXAMPLES`
raises the count for a longer local run.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from contextlib import AsyncExitStack, suppress
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from sqlalchemy import select, text

from tests.conftest import _TABLES as TRUNCATE_TABLES
from walletsync.config import Chain
from walletsync.db.models import wallet_transactions
from walletsync.indexing.sync import sync_wallet
from walletsync.portfolio.balances import wallet_balances
from walletsync.providers.errors import ProviderError
from walletsync.services import Services, open_services
from walletsync.simulator.faults import FaultConfig, FaultRule
from walletsync.simulator.ledger import Ledger
from walletsync.simulator.server import SimulatorServer
from walletsync.wallets.repository import add_wallet

from .conftest import simulator_settings

EXAMPLES = int(os.environ.get("WALLETSYNC_MODEL_EXAMPLES", "12"))


class Interrupted(Exception):
    """Raised from the progress callback: a sync cancelled after some committed pages."""


def _expected(ledger: Ledger, chain: Chain, address: str) -> dict[str, int]:
    if chain is Chain.SOLANA:
        amounts = {"native": ledger.solana_lamports(address), **ledger.solana_token_balances(address)}
    else:
        amounts = {
            ("native" if unit == "lovelace" else unit): q
            for unit, q in ledger.cardano_amounts(address).items()
        }
    return {asset: amount for asset, amount in amounts.items() if amount}


class IndexerMachine(RuleBasedStateMachine):
    def __init__(self, database_url: str, data_dir: Path) -> None:
        super().__init__()
        self.database_url = database_url
        self.data_dir = data_dir
        self.loop = asyncio.new_event_loop()
        self.stack = AsyncExitStack()
        self.server: SimulatorServer | None = None
        self.wallets: dict[tuple[Chain, str], int] = {}  # tracked wallet -> id
        self.checked = 0
        self.faulty = False

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    @initialize(seed=st.integers(0, 10_000))
    def start(self, seed: int) -> None:
        self.ledger = Ledger(seed, solana_wallets=2, cardano_wallets=2, txs_per_wallet=(6, 18))
        self.server = SimulatorServer(self.ledger)
        self.server.__enter__()
        config = simulator_settings(
            self.database_url,
            self.server,
            self.data_dir,
            cardano_safety_depth=0,  # every block counts at once: reorgs reach the facts
            cardano_rollback_window=10**7,
            provider_max_attempts=8,
            database_pool_size=2,  # a shared server: keep this test's connections few
            database_max_overflow=2,
        )
        self.services: Services = self.run(
            self.stack.enter_async_context(open_services(config, self.database_url))
        )

        async def empty() -> None:
            async with self.services.db.primary.begin() as conn:
                await conn.execute(text(f"TRUNCATE {TRUNCATE_TABLES} RESTART IDENTITY CASCADE"))

        self.run(empty())

    def teardown(self) -> None:
        try:
            self.run(self.stack.aclose())
        finally:
            if self.server is not None:
                self.server.__exit__(None, None, None)
            self.loop.close()

    # --- helpers --------------------------------------------------------------------------

    def _wallet(self, pick: int) -> tuple[Chain, str]:
        choices = [(Chain.SOLANA, a) for a in self.ledger.solana_wallets] + [
            (Chain.CARDANO, a) for a in self.ledger.cardano_wallets
        ]
        return choices[pick % len(choices)]

    async def _wallet_id(self, chain: Chain, address: str) -> int:
        if (chain, address) not in self.wallets:
            async with self.services.db.write() as conn:
                self.wallets[(chain, address)] = (await add_wallet(conn, chain=chain, address=address)).id
        return self.wallets[(chain, address)]

    async def _sync(self, chain: Chain, address: str, **kwargs: Any) -> None:
        wallet_id = await self._wallet_id(chain, address)
        await sync_wallet(
            self.services.db,
            wallet_id,
            adapters=self.services.adapters,
            settings=self.services.settings,
            **kwargs,
        )

    async def _check(self, chain: Chain, address: str) -> None:
        wallet_id = self.wallets[(chain, address)]
        async with self.services.db.read() as conn:
            ids = Counter(
                (
                    await conn.execute(
                        select(wallet_transactions.c.tx_id).where(
                            wallet_transactions.c.wallet_id == wallet_id
                        )
                    )
                ).scalars()
            )
            balances = {b.asset_key: b.amount for b in await wallet_balances(conn, wallet_id) if b.kind == "liquid"}
        assert ids == Counter(self.ledger.wallet_tx_ids(chain, address)), (chain, address)
        assert balances == _expected(self.ledger, chain, address), (chain, address)
        self.checked += 1

    # --- rules ----------------------------------------------------------------------------

    @rule(pick=st.integers(0, 50))
    def sync_completes(self, pick: int) -> None:
        chain, address = self._wallet(pick)
        try:
            self.run(self._sync(chain, address))
        except ProviderError:
            # Under injected faults a run may give up (retries spent, breaker open): allowed, and
            # it must have left nothing half-stored (the next completed sync is checked).
            assert self.faulty
            return
        self.run(self._check(chain, address))

    @rule(pick=st.integers(0, 50), after_pages=st.integers(1, 3))
    def sync_cancelled_mid_run(self, pick: int, after_pages: int) -> None:
        chain, address = self._wallet(pick)
        stored = 0

        def interrupt(new: int, seen: int) -> None:
            nonlocal stored
            stored += 1
            if stored == after_pages:
                raise Interrupted

        with suppress(Interrupted):
            self.run(self._sync(chain, address, progress=interrupt))

    @rule(pick=st.integers(0, 50), after_s=st.floats(0.0, 0.05))
    def worker_killed_mid_sync(self, pick: int, after_s: float) -> None:
        chain, address = self._wallet(pick)

        async def killed() -> None:
            task = asyncio.ensure_future(self._sync(chain, address))
            await asyncio.sleep(after_s)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

        self.run(killed())

    @rule(rate=st.sampled_from([0.1, 0.3]))
    def provider_faults(self, rate: float) -> None:
        assert self.server is not None
        self.faulty = True
        self.server.set_faults(
            FaultConfig(
                seed=int(rate * 10),
                providers={
                    "solana": FaultRule(fail_rate=rate / 2, item_error_rate=rate, item_null_rate=rate / 2),
                    "blockfrost": FaultRule(fail_rate=rate),
                },
            )
        )

    @rule()
    def faults_cleared(self) -> None:
        assert self.server is not None
        self.faulty = False
        self.server.set_faults(FaultConfig())

    @rule(
        pick=st.integers(0, 50),
        newest=st.integers(1, 6),
        drop=st.sampled_from([0.0, 0.5, 1.0]),
        seed=st.integers(0, 100),
    )
    def cardano_reorg(self, pick: int, newest: int, drop: float, seed: int) -> None:
        """A fork replacing the blocks of one Cardano wallet's `newest` latest transactions."""
        assert self.server is not None
        wallets = self.ledger.cardano_wallets
        ada = self.ledger.cardano
        mine = self.ledger.wallet_tx_ids(Chain.CARDANO, wallets[pick % len(wallets)])
        heights = sorted(ada.txs[ada.hash_index[h]].height for h in mine)
        if not heights:
            return
        depth = ada.tip_height - heights[-min(newest, len(heights))] + 1
        self.server.reorg(depth, drop=drop, seed=seed)

    @rule(chain=st.sampled_from([Chain.SOLANA, Chain.CARDANO]), n=st.integers(1, 12))
    def new_wallet_with_transactions(self, chain: Chain, n: int) -> None:
        if chain is Chain.SOLANA:
            self.ledger.add_solana_wallet(n)
        else:
            self.ledger.add_cardano_wallet(n)

    @invariant()
    def no_duplicate_links(self) -> None:
        """At every step (complete or not): never two links of one transaction to one wallet."""
        if not self.wallets:
            return

        async def duplicates() -> int:
            async with self.services.db.read() as conn:
                rows = await conn.execute(
                    select(wallet_transactions.c.wallet_id, wallet_transactions.c.tx_id)
                )
                pairs = Counter((row.wallet_id, row.tx_id) for row in rows)
            return sum(1 for count in pairs.values() if count > 1)

        assert self.run(duplicates()) == 0


@pytest.mark.slow
def test_indexer_state_machine(database_url: str, db: object, tmp_path: Path) -> None:
    run_state_machine_as_test(
        lambda: IndexerMachine(database_url, tmp_path / "data"),
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=12,
            deadline=None,
            derandomize=True,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
