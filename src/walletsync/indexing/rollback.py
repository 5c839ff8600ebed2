"""Rollbacks: facts of transactions the chain no longer holds where they were indexed are retracted.

Before listing new transactions, a sync asks its source which recently indexed transactions to check
(`recheck_floor`: Cardano, `WALLETSYNC_CARDANO_ROLLBACK_WINDOW` blocks below the tip; Solana at
`finalized` commitment, none; at `confirmed`, those above the previous run's finalized slot, which
were provisional) and which of them are gone (`vanished`: Blockfrost no longer returns the
transaction, or in another block than the one stored; the Solana node answers null for it). Those are retracted (`retract.py`) in one
database transaction with the cursor rewound to list again from below the lowest of them, so a
transaction re-included in the winning fork is indexed anew and one that was dropped stays out.
`WALLETSYNC_CARDANO_SAFETY_DEPTH` still keeps most rollbacks from ever reaching the facts; this is
what makes `SAFETY_DEPTH=0` (or a rollback deeper than it) correct.
"""

from __future__ import annotations

from typing import Any

import structlog
from sqlalchemy import and_, select

from walletsync.db.engine import Database
from walletsync.db.models import transactions, wallet_transactions
from walletsync.indexing import state
from walletsync.indexing.retract import retract
from walletsync.indexing.sources import StoredTx, TransactionSource
from walletsync.wallets.repository import WalletRow

log = structlog.get_logger(__name__)


async def reconcile(
    db: Database, wallet: WalletRow, source: TransactionSource, cursor: dict[str, Any] | None
) -> tuple[dict[str, Any] | None, int]:
    """Retract the wallet's rolled-back transactions; return the cursor to continue from and how
    many transactions were retracted."""
    if not cursor:
        return cursor, 0
    floor = await source.recheck_floor(cursor)
    if floor is None:
        return cursor, 0
    wt = wallet_transactions
    async with db.read() as conn:
        rows = await conn.execute(
            select(wt.c.tx_id, wt.c.height, transactions.c.block_hash)
            .join(transactions, and_(transactions.c.chain == wt.c.chain, transactions.c.tx_id == wt.c.tx_id))
            .where(wt.c.wallet_id == wallet.id, wt.c.height > floor)
        )
        recent = [StoredTx(row.tx_id, row.height, row.block_hash) for row in rows]
    gone = await source.vanished(recent)
    if not gone:
        return cursor, 0
    lowest = min(tx.height for tx in recent if tx.tx_id in gone)
    rewound = source.rewind(cursor, lowest, gone)
    async with db.write() as conn:
        removed = await retract(
            conn, wallet_id=wallet.id, chain=wallet.chain.value, address=wallet.address, tx_ids=sorted(gone)
        )
        await state.rewind(conn, wallet.id, cursor=rewound, removed=len(removed))
    log.warning(
        "sync.rollback.retracted",
        wallet_id=wallet.id,
        transactions=len(removed),
        lowest_height=lowest,
    )
    return rewound, len(removed)
