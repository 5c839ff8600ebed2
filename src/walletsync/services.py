"""The process's long-lived services, opened once and shared: database, provider clients, adapters, cache.

Commands (`sync`, `worker`, `serve`, `demo`) open them with `open_services`; job tasks receive them
through the worker's context. Endpoint health is read from `provider_endpoints` at start and written
back on every breaker change; request counts go to `provider_stats` every
`WALLETSYNC_PROVIDER_STATS_FLUSH` seconds and at exit (`db.provider_stats`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import structlog

from walletsync import cache
from walletsync.config import Settings
from walletsync.db.engine import Database
from walletsync.db.provider_endpoints import endpoint_state_saver, load_endpoint_states
from walletsync.db.provider_stats import StatsFlusher
from walletsync.indexing.sync import ChainAdapters
from walletsync.jobs.share import WorkerShare
from walletsync.providers import cardano, solana, twelvedata
from walletsync.providers.cardano import CardanoAdapter
from walletsync.providers.clients import ProviderClients, build_provider_clients
from walletsync.providers.solana import SolanaAdapter
from walletsync.providers.stats import ProviderStats
from walletsync.providers.twelvedata import TwelveDataAdapter

log = structlog.get_logger(__name__)
WARM_CONNECTIONS = 4
"""Pooled connections each process opens at start-up (`Database.warm`)."""


@dataclass
class Services:
    settings: Settings
    db: Database
    clients: ProviderClients
    adapters: ChainAdapters
    twelvedata: TwelveDataAdapter | None

    async def invalidate_wallet(self, wallet_id: int) -> None:
        """Drop the wallet's cached reads after a sync committed new transactions."""
        await cache.invalidate_wallet(wallet_id)

    async def sync_prices(self) -> dict[str, Any]:
        """Run the market-data sync (catalogs and candles) and return its report as JSON-able data.

        Without a Twelve Data endpoint there is nothing to do: the periodic job skips, it does not fail.
        """
        if self.twelvedata is None:
            log.info("market.sync.skipped", reason="TWELVEDATA_URLS is not set")
            return {"skipped": "no Twelve Data endpoint configured (TWELVEDATA_URLS)"}
        from walletsync.market.sync import sync_prices

        report = await sync_prices(self.db, self.twelvedata, self.settings)
        return report.as_dict()


def build_adapters(
    settings: Settings, clients: ProviderClients
) -> tuple[ChainAdapters, TwelveDataAdapter | None]:
    ttl = settings.metadata_cache_ttl_s
    adapters = ChainAdapters(
        solana=SolanaAdapter(
            clients.solana,
            commitment=settings.solana_commitment,
            metadata_cache_ttl_s=ttl,
            # Failed items of a getTransaction batch: as many attempts as a whole request gets.
            item_attempts=settings.provider_max_attempts,
            item_backoff_s=settings.provider_backoff_initial_s,
            max_batch=clients.solana.safe_cost,
        )
        if clients.solana
        else None,
        cardano=CardanoAdapter(clients.blockfrost, metadata_cache_ttl_s=ttl) if clients.blockfrost else None,
    )
    if clients.solana and settings.sync_batch_size > clients.solana.safe_cost:
        log.info(
            "sync.batch_size.lowered",
            configured=settings.sync_batch_size,
            batch_size=clients.solana.safe_cost,
            reason="a batch this large leaves the provider's rate-limit bucket no slack "
            "(raise WALLETSYNC_SOLANA_BURST if the provider allows it)",
        )
    market = TwelveDataAdapter(clients.twelvedata) if clients.twelvedata else None
    return adapters, market


@asynccontextmanager
async def open_services(
    settings: Settings, database_url: str, *, application_name: str = "walletsync"
) -> AsyncIterator[Services]:
    """Open the database, the cache and the provider clients for the block; close them after."""
    db = Database.from_settings(database_url, settings, application_name=application_name)
    layer = cache.setup_cache(settings)
    if db.replica_count:
        layer.track_writes(db.write_position)  # read-your-writes over replicas (cache.py)
    try:
        stats = ProviderStats()  # this process's provider counts, flushed to `provider_stats`
        share = WorkerShare()  # live workers: each one's share of a rate limit while Redis is down
        # The connections a sync holds at once (the wallet's lock, the upsert ahead, the page
        # writer, an asset lookup), opened beside the first read rather than on the first sync.
        # Both run to their end before an error of either is raised, so none outlives the pool.
        loaded, warmed = await asyncio.gather(
            load_endpoint_states(db),
            db.warm(min(WARM_CONNECTIONS, settings.database_pool_size)),
            return_exceptions=True,
        )
        if isinstance(loaded, BaseException):
            raise loaded
        if isinstance(warmed, BaseException):
            raise warmed
        states = loaded
        by_provider: dict[str, list[Any]] = {}
        for endpoint in states:
            by_provider.setdefault(endpoint.provider, []).append(endpoint)
        clients = build_provider_clients(
            settings,
            redis_url=settings.redis_url,
            classifiers={
                "solana": solana.classify_error,
                "blockfrost": cardano.classify_error,
                "twelvedata": twelvedata.classify_error,
            },
            initial_states=by_provider,
            on_change=endpoint_state_saver(db),
            shares=share,
            stats=stats,
        )
        flusher = StatsFlusher(db, stats, interval_s=settings.provider_stats_flush_s)
        try:
            adapters, market = build_adapters(settings, clients)
            async with (
                share.kept_fresh(db, stale_after_s=settings.worker_stalled_after_s),
                flusher.running(),
            ):
                yield Services(
                    settings=settings, db=db, clients=clients, adapters=adapters, twelvedata=market
                )
        finally:
            await clients.aclose()
    finally:
        await cache.teardown_cache(layer)
        await db.dispose()
