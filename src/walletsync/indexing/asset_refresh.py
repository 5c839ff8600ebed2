"""Re-reading token metadata that may have changed since it was stored (the periodic refresh).

An asset's name, symbol and decimals are looked up once, when a sync first meets it; they can change
afterwards (a Metaplex update authority renames a token, a registry entry or a CIP-68 datum is added
or edited). `refresh_assets` re-fetches, stalest first, the assets whose `refreshed_at` is older than
`WALLETSYNC_ASSET_METADATA_TTL`, at most `limit` per run (so a run stays short and within the
providers' rate limits), through the same resilient adapters as the sync, bypassing their metadata
cache. Each asset is written in its own short transaction; the wallets holding one whose shown fields
changed get their cached reads invalidated, so the API shows the new name at once.

What a refresh may change: a field the provider now states replaces the stored one; a field it no
longer states keeps the stored value (a registry outage must not blank names). Solana decimals that
are stored stay: they came from the transactions themselves or the mint, and a mint's decimals never
change on chain (a closed mint would otherwise lose them). An asset the provider does not know
(a closed mint without metadata, an unknown unit) only has `refreshed_at` moved, so it is tried again
one TTL later, not every run. A provider failure leaves the asset due and fails the run after the
others were refreshed, so the job's retry and dead-letter policy applies.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import select, update

from walletsync.config import Chain
from walletsync.db.engine import Database
from walletsync.db.models import assets, current_balances
from walletsync.errors import WalletsyncError
from walletsync.indexing.sync import ChainAdapters
from walletsync.providers.errors import ProviderError, UpstreamNotFoundError
from walletsync.providers.types import NATIVE, AssetInfo

log = structlog.get_logger(__name__)

Invalidate = Callable[[int], Awaitable[None]]


@dataclass
class RefreshReport:
    checked: int = 0
    changed: int = 0
    unknown: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # asset key -> error

    def as_dict(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "changed": self.changed,
            "unknown": self.unknown,
            "failed": len(self.failed),
        }


class AssetRefreshError(WalletsyncError):
    """Some assets could not be refreshed (the others were): the job retries, stalest first."""

    status = 503
    title = "Asset metadata refresh incomplete"

    def __init__(self, report: RefreshReport) -> None:
        self.report = report
        sample = "; ".join(f"{key}: {error}" for key, error in list(report.failed.items())[:3])
        super().__init__(f"{len(report.failed)} of {report.checked} assets failed to refresh ({sample})")


async def _fetch(adapters: ChainAdapters, chain: str, key: str) -> AssetInfo | None:
    """What the provider says now, or None when it knows nothing of the asset."""
    try:
        if chain == Chain.SOLANA.value and adapters.solana is not None:
            return await adapters.solana.mint_info(key, fresh=True)
        if chain == Chain.CARDANO.value and adapters.cardano is not None:
            return await adapters.cardano.asset(key, fresh=True)
    except UpstreamNotFoundError:
        return None
    raise LookupError(f"no adapter for chain {chain}")


def merged(row: Any, found: AssetInfo) -> dict[str, Any]:
    """The row's new shown fields by the rules in the module docstring."""
    decimals = row.decimals
    if found.decimals is not None and not (row.chain == Chain.SOLANA.value and decimals is not None):
        decimals = found.decimals
    return {
        "symbol": found.symbol or row.symbol,
        "name": found.name or row.name,
        "decimals": decimals,
        "metadata": {**(row.metadata or {}), **found.metadata},
    }


async def refresh_assets(
    db: Database,
    adapters: ChainAdapters,
    *,
    now: datetime,
    ttl: timedelta,
    limit: int,
    invalidate: Invalidate | None = None,
) -> RefreshReport:
    """Refresh up to `limit` assets not refreshed since `now - ttl`, stalest (and never) first."""
    chains = [
        c.value
        for c, adapter in ((Chain.SOLANA, adapters.solana), (Chain.CARDANO, adapters.cardano))
        if adapter
    ]
    async with db.primary.connect() as conn:
        due = (
            await conn.execute(
                select(assets)
                .where(assets.c.chain.in_(chains), assets.c.asset_key != NATIVE)
                .where((assets.c.refreshed_at.is_(None)) | (assets.c.refreshed_at < now - ttl))
                .order_by(assets.c.refreshed_at.asc().nulls_first(), assets.c.id)
                .limit(limit)
            )
        ).all()
    report = RefreshReport()
    for row in due:
        report.checked += 1
        try:
            found = await _fetch(adapters, row.chain, row.asset_key)
        except ProviderError as exc:
            report.failed[row.asset_key] = exc.detail
            log.warning("assets.refresh.failed", chain=row.chain, asset=row.asset_key, error=exc.detail)
            continue
        values: dict[str, Any] = {"refreshed_at": now}
        changed = False
        if found is None:
            report.unknown += 1
        else:
            fields = merged(row, found)
            changed = any(fields[k] != getattr(row, k) for k in ("symbol", "name", "decimals"))
            values |= fields
        async with db.write() as conn:
            await conn.execute(update(assets).where(assets.c.id == row.id).values(**values))
            holders = (
                (
                    await conn.scalars(
                        select(current_balances.c.wallet_id).where(current_balances.c.asset_id == row.id)
                    )
                ).all()
                if changed
                else []
            )
        if changed:
            report.changed += 1
            log.info("assets.refresh.changed", chain=row.chain, asset=row.asset_key, name=values.get("name"))
            if invalidate is not None:
                for wallet_id in sorted(set(holders)):
                    await invalidate(wallet_id)
    if report.failed:
        raise AssetRefreshError(report)
    return report
