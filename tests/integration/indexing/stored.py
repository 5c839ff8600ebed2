"""What the indexer stored for a wallet, read back for assertions, and the ledger's own figures to
compare with (one copy for every test file)."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from walletsync.db.engine import Database
from walletsync.db.models import wallet_transactions
from walletsync.portfolio.balances import wallet_balances
from walletsync.simulator.ledger import Ledger


async def linked_tx_ids(db: Database, wallet_id: int) -> list[str]:
    """Every transaction id linked to the wallet, duplicates included (tests compare Counters)."""
    async with db.read() as conn:
        return await _linked(conn, wallet_id)


async def indexed_state(db: Database, wallet_id: int) -> tuple[Counter[str], dict[str, int]]:
    """The wallet's linked transaction ids and its liquid balances by asset key, read together."""
    async with db.read() as conn:
        ids = Counter(await _linked(conn, wallet_id))
        balances = {
            b.asset_key: b.amount for b in await wallet_balances(conn, wallet_id) if b.kind == "liquid"
        }
    return ids, balances


async def _linked(conn: AsyncConnection, wallet_id: int) -> list[str]:
    rows = await conn.execute(
        select(wallet_transactions.c.tx_id).where(wallet_transactions.c.wallet_id == wallet_id)
    )
    return list(rows.scalars())


def ledger_solana_balances(ledger: Ledger, address: str) -> dict[str, int]:
    """The oracle: the simulator ledger's own non-zero balances of a Solana wallet (lamports as
    `native`, tokens by mint)."""
    amounts = {"native": ledger.solana_lamports(address), **ledger.solana_token_balances(address)}
    return {asset: amount for asset, amount in amounts.items() if amount}
