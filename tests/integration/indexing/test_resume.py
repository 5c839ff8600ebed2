"""A first Solana sync interrupted after any page resumes to exactly the simulator's ledger.

The simulator closes some token accounts after use (no longer listed by `getTokenAccountsByOwner`),
so the transfers into them are found only through the owner's own transactions: what a run learned
from pages it committed must survive the interruption.
"""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import text

from tests.integration.indexing.stored import indexed_state, ledger_solana_balances
from walletsync.config import Chain
from walletsync.indexing import sources
from walletsync.indexing.sync import sync_wallet
from walletsync.services import Services
from walletsync.simulator.ledger import Ledger
from walletsync.simulator.solana_records import SPL_TRANSFER
from walletsync.wallets.repository import add_wallet, remove_wallet

PAGE = 10  # signatures per page: a ~50-transaction wallet then spans many pages


class Interrupted(Exception):
    pass


async def test_first_sync_interrupted_after_each_page_resumes_to_the_ledger(
    services: Services, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sources, "SOLANA_PAGE", PAGE)
    address = ledger.solana_wallets[0]
    closed = set(ledger.solana_token_accounts(address, closed=True).values())
    # The case under test exists: closed accounts that received transfers listed only under them.
    chain = ledger.solana
    incoming = [
        chain.txs[t]
        for account in closed
        for t in chain.signatures_for(account)
        if chain.txs[t].kind == SPL_TRANSFER and chain.accounts[chain.txs[t].payer] != address
    ]
    assert incoming
    listed = await services.adapters.solana.token_accounts(address)  # type: ignore[union-attr]
    assert closed.isdisjoint(a.account for a in listed)
    expected_ids = Counter(ledger.wallet_tx_ids(Chain.SOLANA, address))
    expected_balances = ledger_solana_balances(ledger, address)

    async with services.db.write() as conn:
        wallet = await add_wallet(conn, chain=Chain.SOLANA, address=address)
    full = await sync_wallet(services.db, wallet.id, adapters=services.adapters, settings=services.settings)
    assert await indexed_state(services.db, wallet.id) == (expected_ids, expected_balances)
    assert full.pages > 5

    for stop_after in range(1, full.pages + 1):
        async with services.db.write() as conn:
            await remove_wallet(conn, wallet.id)
            wallet = await add_wallet(conn, chain=Chain.SOLANA, address=address)
        stored = 0

        def interrupt(new: int, seen: int, stop_after: int = stop_after) -> None:
            nonlocal stored
            stored += 1
            if stored == stop_after:
                raise Interrupted(f"after page {stored}")

        try:
            await sync_wallet(
                services.db,
                wallet.id,
                adapters=services.adapters,
                settings=services.settings,
                progress=interrupt,
            )
        except Interrupted:
            pass
        else:
            pytest.fail(f"the sync ended before page {stop_after}")
        await sync_wallet(services.db, wallet.id, adapters=services.adapters, settings=services.settings)
        ids, balances = await indexed_state(services.db, wallet.id)
        assert (ids, balances) == (expected_ids, expected_balances), f"interrupted after page {stop_after}"
        # And a later sync adds nothing (nothing left to repair).
        again = await sync_wallet(
            services.db, wallet.id, adapters=services.adapters, settings=services.settings
        )
        assert again.new_transactions == 0


async def test_transactions_stored_ahead_of_an_interrupted_page_are_linked_by_the_resumed_run(
    services: Services, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page's `transactions` rows commit on a second connection before the page's own
    transaction (overlapping the previous page's). Interrupted after the first page, those rows may
    be in the database with no link; they are facts shared by all wallets, so nothing of the wallet
    shows them, and the resumed run links every one of them: exactly the ledger, no row left unlinked."""
    monkeypatch.setattr(sources, "SOLANA_PAGE", PAGE)
    address = ledger.solana_wallets[1]
    expected_ids = Counter(ledger.wallet_tx_ids(Chain.SOLANA, address))
    async with services.db.write() as conn:
        wallet = await add_wallet(conn, chain=Chain.SOLANA, address=address)

    def interrupt(new: int, seen: int) -> None:
        raise Interrupted(f"after {new} new transactions")

    with pytest.raises(Interrupted):
        await sync_wallet(
            services.db, wallet.id, adapters=services.adapters, settings=services.settings, progress=interrupt
        )
    linked = await _count(services, "SELECT count(*) FROM wallet_transactions")
    stored = await _count(services, "SELECT count(*) FROM transactions")
    assert 0 < linked <= PAGE
    # At most the next two pages: one waiting for the writer, one being upserted.
    assert linked <= stored <= linked + 2 * PAGE

    await sync_wallet(services.db, wallet.id, adapters=services.adapters, settings=services.settings)
    assert (await indexed_state(services.db, wallet.id))[0] == expected_ids
    unlinked = await _count(
        services,
        "SELECT count(*) FROM transactions t WHERE NOT EXISTS"
        " (SELECT 1 FROM wallet_transactions w WHERE w.chain = t.chain AND w.tx_id = t.tx_id)",
    )
    assert unlinked == 0


async def _count(services: Services, query: str) -> int:
    async with services.db.read() as conn:
        return int((await conn.execute(text(query))).scalar_one())
