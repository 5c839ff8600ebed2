"""Running Procrastinate workers with walletsync's services in their context."""

from __future__ import annotations

from collections.abc import Iterable

import structlog

from walletsync.jobs.app import QUEUES, open_app
from walletsync.jobs.tasks import record_failures
from walletsync.services import Services

log = structlog.get_logger(__name__)

HEARTBEAT_INTERVAL_S = 10.0
STALLED_WORKER_TIMEOUT_S = 60.0


async def run_worker(
    services: Services,
    *,
    concurrency: int,
    queues: Iterable[str] | None = None,
    install_signal_handlers: bool = True,
    wait: bool = True,
) -> None:
    """Process jobs until stopped (SIGINT/SIGTERM, or cancellation); with wait=False, until the queue is empty."""
    chosen = list(queues) if queues else list(QUEUES)
    async with open_app(services.db.url, max_pool_size=concurrency + 2) as app:
        log.info("worker.started", concurrency=concurrency, queues=chosen)
        await app.run_worker_async(
            concurrency=concurrency,
            queues=chosen,
            wait=wait,
            additional_context={"services": services},
            worker_middleware=[record_failures],
            install_signal_handlers=install_signal_handlers,
            update_heartbeat_interval=HEARTBEAT_INTERVAL_S,
            stalled_worker_timeout=STALLED_WORKER_TIMEOUT_S,
        )
        log.info("worker.stopped")
