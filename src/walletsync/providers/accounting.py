"""What the resilient client records about each attempt and breaker change (steps 6-7 aside): the
`provider.request` log line, the `walletsync_provider_*` Prometheus metrics, the shared per-minute
statistics (`providers.stats`), and breaker changes handed to the async `on_change` hook.

Breaker changes are persisted one at a time in the background, so a slow database never slows a
request; changes that pile up before a write collapse into one write of the newest state.
`flush_state()` awaits them. Nothing here may raise into a provider call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import structlog

from walletsync.providers import metrics
from walletsync.providers.breaker import GAUGE_VALUE, BreakerState
from walletsync.providers.endpoints import Endpoint, EndpointState
from walletsync.providers.errors import ProviderError
from walletsync.providers.redact import Scrubber
from walletsync.providers.request import Request, error_kind, outcome_of, path_template
from walletsync.providers.stats import ProviderStats

log = structlog.get_logger("walletsync.providers.http")

OnChange = Callable[[EndpointState], Awaitable[None]]


class Bookkeeper:
    """Logs, metrics, shared statistics and breaker persistence of one provider's client."""

    def __init__(
        self,
        provider: str,
        scrubber: Scrubber,
        *,
        on_change: OnChange | None = None,
        stats: ProviderStats | None = None,
    ) -> None:
        self.provider = provider
        self._scrubber = scrubber
        self._on_change = on_change
        self._stats = stats
        self._persist_lock = asyncio.Lock()
        self._persist_tasks: set[asyncio.Task[None]] = set()
        self._dirty: set[str] = set()

    def scrub(self, text: str) -> str:
        return self._scrubber.scrub(text)

    def waited(self, waited_s: float) -> None:
        metrics.RATELIMIT_WAIT_SECONDS.labels(self.provider).observe(waited_s)

    def record(
        self,
        request: Request,
        endpoint: Endpoint,
        attempt: int,
        error: ProviderError | None,
        status: int | None,
        latency: float,
        waited_s: float,
    ) -> None:
        outcome = outcome_of(error)
        metrics.REQUESTS.labels(self.provider, endpoint.name, outcome).inc()
        metrics.REQUEST_SECONDS.labels(self.provider, endpoint.name).observe(latency)
        if self._stats is not None:
            self._stats.attempt(self.provider, endpoint.name, outcome, waited_s)
        fields: dict[str, Any] = {
            "provider": self.provider,
            "endpoint": endpoint.name,
            "method": request.method,
            "path": path_template(request.path),
            "status": status,
            "latency_ms": round(latency * 1000, 1),
            "attempt": attempt,
            "breaker": str(endpoint.breaker.state),
            "outcome": outcome,
        }
        rpc_method = request.rpc_method()
        if rpc_method is not None:
            fields["rpc_method"] = rpc_method
        if error is None:
            log.info("provider.request", **fields)
            return
        metrics.ERRORS.labels(self.provider, error_kind(error)).inc()
        fields["error"] = self.scrub(error.detail)[:300]
        if outcome == "client_error":
            log.info("provider.request", **fields)
        else:
            log.warning("provider.request", **fields)

    def breaker_gauge(self, endpoint: Endpoint) -> None:
        metrics.BREAKER_STATE.labels(self.provider, endpoint.name).set(GAUGE_VALUE[endpoint.breaker.state])

    def on_transition(self, endpoint: Endpoint, state: BreakerState) -> None:
        metrics.BREAKER_STATE.labels(self.provider, endpoint.name).set(GAUGE_VALUE[state])
        event = {
            BreakerState.OPEN: "provider.breaker.opened",
            BreakerState.HALF_OPEN: "provider.breaker.half_open",
            BreakerState.CLOSED: "provider.breaker.closed",
        }[state]
        log.warning(
            event,
            provider=self.provider,
            endpoint=endpoint.name,
            consecutive_failures=endpoint.breaker.consecutive_failures,
            last_error=endpoint.breaker.last_error,
        )
        if self._on_change is not None and endpoint.url not in self._dirty:
            # Changes that pile up before the write collapse into one write of the newest state.
            self._dirty.add(endpoint.url)
            task = asyncio.get_running_loop().create_task(self._persist(endpoint))
            self._persist_tasks.add(task)
            task.add_done_callback(self._persist_tasks.discard)

    async def _persist(self, endpoint: Endpoint) -> None:
        assert self._on_change is not None
        # One write at a time, each reading the state when it starts: the last write is the newest state.
        async with self._persist_lock:
            self._dirty.discard(endpoint.url)
            state = self.public(endpoint.state())
            try:
                await self._on_change(state)
            except Exception as exc:  # noqa: BLE001 - persistence is best effort; requests must go on
                log.warning(
                    "provider.endpoint.persist_failed",
                    provider=self.provider,
                    endpoint=endpoint.name,
                    error=type(exc).__name__,
                )

    async def flush_state(self) -> None:
        """Wait until every breaker change has been handed to `on_change`."""
        while self._persist_tasks:
            await asyncio.gather(*self._persist_tasks)

    def public(self, state: EndpointState) -> EndpointState:
        if state.last_error is None:
            return state
        return replace(state, last_error=self.scrub(state.last_error))
