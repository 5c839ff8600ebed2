"""`sync_state`: the only mutable sync state of a wallet (cursor, status, error, progress)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from walletsync.db.models import sync_state
from walletsync.errors import NotFoundError


@dataclass(frozen=True, slots=True)
class SyncStatus:
    wallet_id: int
    status: str  # pending | running | ok | error
    cursor: dict[str, Any] | None
    last_height: int | None
    last_synced_at: datetime | None
    error: str | None
    tx_count: int
    next_sync_at: datetime
    updated_at: datetime

    @property
    def lag_seconds(self) -> float | None:
        """Seconds since the last successful sync reached the chain head (None: never synced)."""
        if self.last_synced_at is None:
            return None
        return max(0.0, (datetime.now(UTC) - self.last_synced_at).total_seconds())


async def get_sync_state(conn: AsyncConnection, wallet_id: int) -> SyncStatus:
    row = (await conn.execute(select(sync_state).where(sync_state.c.wallet_id == wallet_id))).first()
    if row is None:
        raise NotFoundError(f"no wallet with id {wallet_id}")
    return SyncStatus(
        wallet_id=row.wallet_id,
        status=row.status,
        cursor=row.cursor,
        last_height=row.last_height,
        last_synced_at=row.last_synced_at,
        error=row.error,
        tx_count=row.tx_count,
        next_sync_at=row.next_sync_at,
        updated_at=row.updated_at,
    )


async def mark_running(conn: AsyncConnection, wallet_id: int) -> None:
    await conn.execute(
        update(sync_state)
        .where(sync_state.c.wallet_id == wallet_id)
        .values(status="running", updated_at=func.now())
    )


async def save_progress(
    conn: AsyncConnection,
    wallet_id: int,
    *,
    cursor: dict[str, Any],
    last_height: int | None,
    new_transactions: int,
) -> None:
    """Advance the cursor; called in the same transaction as the facts it covers."""
    await conn.execute(
        update(sync_state)
        .where(sync_state.c.wallet_id == wallet_id)
        .values(
            cursor=cursor,
            last_height=func.greatest(sync_state.c.last_height, last_height)
            if last_height is not None
            else sync_state.c.last_height,
            tx_count=sync_state.c.tx_count + new_transactions,
            updated_at=func.now(),
        )
    )


async def rewind(conn: AsyncConnection, wallet_id: int, *, cursor: dict[str, Any], removed: int) -> None:
    """Move the cursor back after retracting `removed` transactions (same transaction as the retraction)."""
    await conn.execute(
        update(sync_state)
        .where(sync_state.c.wallet_id == wallet_id)
        .values(
            cursor=cursor,
            tx_count=func.greatest(sync_state.c.tx_count - removed, 0),
            updated_at=func.now(),
        )
    )


async def mark_done(conn: AsyncConnection, wallet_id: int, *, interval_s: int) -> None:
    await conn.execute(
        update(sync_state)
        .where(sync_state.c.wallet_id == wallet_id)
        .values(
            status="ok",
            error=None,
            last_synced_at=func.now(),
            next_sync_at=func.now() + timedelta(seconds=interval_s),
            updated_at=func.now(),
        )
    )


async def mark_failed(conn: AsyncConnection, wallet_id: int, *, error: str, retry_in_s: int) -> None:
    await conn.execute(
        update(sync_state)
        .where(sync_state.c.wallet_id == wallet_id)
        .values(
            status="error",
            error=error[:2000],
            next_sync_at=func.now() + timedelta(seconds=retry_in_s),
            updated_at=func.now(),
        )
    )


async def due_wallets(conn: AsyncConnection, *, limit: int = 1000) -> list[int]:
    """Wallets whose next sync time has come (the periodic sweep enqueues these).

    Status is not filtered: a worker killed mid-sync leaves `running` behind, and the job's queueing
    lock (not this query) is what keeps one sync per wallet.
    """
    rows = await conn.execute(
        select(sync_state.c.wallet_id)
        .where(sync_state.c.next_sync_at <= func.now())
        .order_by(sync_state.c.next_sync_at)
        .limit(limit)
    )
    return [row.wallet_id for row in rows]


async def sync_version(conn: AsyncConnection, wallet_ids: list[int]) -> str:
    """A short fingerprint of the wallets' sync states (transactions stored, last change): it moves
    whenever a sync of any of them stores something or changes status. For pollers (the dashboard)."""
    row = (
        await conn.execute(
            select(
                func.count(),
                func.coalesce(func.sum(sync_state.c.tx_count), 0),
                func.max(sync_state.c.updated_at),
            ).where(sync_state.c.wallet_id.in_(wallet_ids))
        )
    ).one()
    latest = row[2].isoformat() if row[2] is not None else "-"
    return f"{row[0]}.{row[1]}.{latest}"
