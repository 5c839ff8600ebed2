"""The resilient HTTP client every provider adapter uses (`ResilientClient`, implementing `JsonTransport`).

One instance per provider, one HTTP connection pool inside. A call goes:

1. metadata cache (`cache_ttl_s`): a fresh cached body is returned without a request; concurrent
   identical calls share one request (`providers.metadata_cache`);
2. concurrency cap: at most `max_concurrency` calls in flight (an `asyncio.Semaphore`);
3. endpoint choice: weighted among endpoints whose breaker lets a call through, preferring one this
   call has not failed on (`providers.endpoints`, `providers.breaker`). When every breaker is open the
   call waits for the earliest cool-down (or for a half-open probe to finish) if that comes within
   `backoff_max_s`, the longest it would wait between retries anyway; otherwise it fails fast with
   `ProviderUnavailableError`, leaving the retry to the job queue;
4. rate limit: `cost` tokens from the provider's token bucket, shared by every process through Redis
   (`providers.ratelimit`). Tokens are taken after the endpoint choice, right before sending, because
   the bucket's schedule only holds if requests leave when their tokens fall due;
5. the request, bounded by `timeout_s` in total (the connection has half of it, so an unreachable
   endpoint is recognised as "never sent"), over aiohttp, or over httpx when the caller hands in an
   httpx transport (`providers.wire`); the adapter's `ErrorClassifier` reads the answer;
6. breaker accounting: 5xx, timeouts, connection errors and malformed bodies are endpoint failures;
   other answers (including 4xx) prove the endpoint alive; 429 is neutral: it does not open a
   breaker, since the limit is the provider's, not one endpoint's. A breaker opens on a failure rate
   over a window of calls (`providers.breaker`);
7. retry (`providers.retry`): only errors whose `retryable` is true, at most `max_attempts` failed
   attempts, full-jitter exponential backoff, on another endpoint when one is usable. A 429 with
   `Retry-After` waits exactly that long and is not a failed attempt; every wait is bounded by the
   call's `deadline_s` (past it: `ProviderUnavailableError` at once, the job queue retries later). A non-idempotent call
   (`post_json(idempotent=False)`) is retried only when the request cannot have been processed:
   connect errors/timeouts (never sent) and 429 (refused). Retries exhausted: `ProviderUnavailableError`.

Every attempt logs `provider.request` (host, method, path template, status, latency, attempt, breaker
state; never URLs with keys, query parameters or headers), updates the `walletsync_provider_*`
metrics and, given a `ProviderStats`, the per-minute counts shared with other processes through the
database. Breaker changes go to the async `on_change` hook (persistence lives outside `providers/`),
one at a time in the background so a slow database never slows a request; `flush_state()` awaits them.

This module is the call's control flow (steps 1-4, 6-7); the rest lives beside it: the request and
outcome types (`providers.request`), the HTTP exchange of step 5 (`providers.exchange`), logs, metrics,
statistics and breaker persistence (`providers.accounting`), credential scrubbing (`providers.redact`).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Self

import httpx
import structlog

from walletsync.config import ProviderConfig
from walletsync.providers import metrics
from walletsync.providers.accounting import Bookkeeper, OnChange
from walletsync.providers.breaker import utcnow
from walletsync.providers.classify import default_classifier
from walletsync.providers.endpoints import Endpoint, EndpointPool, EndpointState
from walletsync.providers.errors import ProviderError, ProviderUnavailableError, RateLimitedError
from walletsync.providers.exchange import Exchanger
from walletsync.providers.metadata_cache import TtlCache
from walletsync.providers.ratelimit import LocalTokenBucket, RateLimiter
from walletsync.providers.redact import Scrubber
from walletsync.providers.request import (
    Outcome,
    Request,
    decode_json,
    error_kind,
    outcome_of,
    path_template,
)
from walletsync.providers.retry import Backoff
from walletsync.providers.stats import ProviderStats
from walletsync.providers.types import ErrorClassifier
from walletsync.providers.wire import HttpxWire, Wire, http_client

__all__ = [
    "OnChange",
    "ResilientClient",
    "Sleep",
    "decode_json",
    "error_kind",
    "outcome_of",
    "path_template",
]

log = structlog.get_logger(__name__)

Sleep = Callable[[float], Awaitable[None]]


class ResilientClient:
    """Rate-limited, retrying, circuit-breaking JSON client of one provider (see the module docstring)."""

    def __init__(
        self,
        config: ProviderConfig,
        *,
        classify: ErrorClassifier = default_classifier,
        rate_limiter: RateLimiter | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        now: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
        initial_states: Sequence[EndpointState] = (),
        on_change: OnChange | None = None,
        cache_max_entries: int = 2048,
        stats: ProviderStats | None = None,
    ) -> None:
        self.config = config
        self.provider = config.name
        self._clock = clock
        self._sleep = sleep
        rng = rng or random.Random()
        self._limiter: RateLimiter = rate_limiter or LocalTokenBucket(
            config.rate, config.burst, clock=clock, sleep=sleep
        )
        self._semaphore = asyncio.Semaphore(config.max_concurrency)
        self._backoff = Backoff(config.backoff_initial_s, config.backoff_max_s, rng)
        self._cache = TtlCache(clock=clock, max_entries=cache_max_entries)
        scrubber = Scrubber(api_key=config.api_key, urls=config.urls, headers=headers, params=params)
        self._books = Bookkeeper(config.name, scrubber, on_change=on_change, stats=stats)
        self._pool = EndpointPool(
            config.name,
            config.urls,
            threshold=config.breaker_failure_threshold,
            cooldown_s=config.breaker_cooldown_s,
            failure_rate=config.breaker_failure_rate,
            window_s=config.breaker_window_s,
            min_calls=config.breaker_min_calls,
            clock=clock,
            now=now,
            rng=rng,
            initial_states=initial_states,
            on_transition=self._books.on_transition,
        )
        self._wire = _wire(config, headers, transport)
        self._exchanger = Exchanger(
            config.name,
            self._wire,
            timeout_s=config.timeout_s,
            classify=classify,
            scrubber=scrubber,
            default_params=params,
        )
        for endpoint in self._pool.endpoints:
            self._books.breaker_gauge(endpoint)

    # --- JsonTransport ---------------------------------------------------------------------

    async def get_json(
        self,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        cache_ttl_s: float | None = None,
        cost: int = 1,
    ) -> Any:
        request = Request("GET", path, params, None, idempotent=True, cost=cost)
        return await self._call(request, cache_ttl_s)

    async def post_json(
        self,
        path: str,
        *,
        body: Any,
        idempotent: bool = True,
        cache_ttl_s: float | None = None,
        cost: int = 1,
    ) -> Any:
        request = Request("POST", path, None, body, idempotent=idempotent, cost=cost)
        return await self._call(request, cache_ttl_s)

    async def post_bytes(self, path: str, *, content: bytes, headers: Mapping[str, str]) -> int:
        """POST `content` exactly as given (e.g. a signed webhook body) and return the HTTP status.

        The classifier alone decides success (the answer need not be JSON). Never retried once it may
        have reached the server: the caller owns redelivery.
        """
        request = Request(
            "POST", path, None, None, idempotent=False, cost=1, content=content, headers=headers
        )
        status: int = await self._send(request)
        return status

    # --- health, lifecycle -----------------------------------------------------------------

    @property
    def safe_cost(self) -> int:
        """The largest call cost (JSON-RPC batch size) the rate limit can send with slack
        (`RateLimiter.safe_cost`): batch no larger than this."""
        return self._limiter.safe_cost

    @property
    def metadata_ttl_s(self) -> float:
        """The configured TTL for slow-changing metadata (what adapters pass as `cache_ttl_s`)."""
        return self.config.metadata_cache_ttl_s

    def snapshot(self) -> list[EndpointState]:
        """Every endpoint's health now (public URL, breaker state, failures, last error, opened_at)."""
        return [self._books.public(state) for state in self._pool.states()]

    async def flush_state(self) -> None:
        """Wait until every breaker change has been handed to `on_change`."""
        await self._books.flush_state()

    async def aclose(self) -> None:
        await self.flush_state()
        await self._wire.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # --- the call ----------------------------------------------------------------------------

    async def _call(self, request: Request, cache_ttl_s: float | None) -> Any:
        if not cache_ttl_s or cache_ttl_s <= 0:
            return await self._send(request)
        value, cached = await self._cache.get_or_load(
            request.cache_key(), cache_ttl_s, lambda: self._send(request)
        )
        metrics.CACHE.labels(self.provider, "hit" if cached else "miss").inc()
        return value

    async def _send(self, request: Request) -> Any:
        avoid: set[str] = set()
        previous: Endpoint | None = None
        previous_kind = ""
        attempt = 0  # every request sent (logs, metrics)
        failed = 0  # attempts that count against `max_attempts`: a 429 with Retry-After does not
        deadline = self._clock() + self.config.deadline_s
        while True:
            attempt += 1
            outcome, endpoint = await self._attempt(request, attempt, avoid, previous, previous_kind)
            error = outcome.error
            if error is None:
                return outcome.body
            kind = error_kind(error)
            if not error.retryable:
                raise error
            if not request.idempotent and outcome.maybe_sent:
                log.warning(
                    "provider.request.not_retried",
                    provider=self.provider,
                    endpoint=endpoint.name,
                    kind=kind,
                    reason="non-idempotent call may have reached the server",
                )
                raise error
            retry_after = error.retry_after_s if isinstance(error, RateLimitedError) else None
            told_when = retry_after is not None
            if retry_after is not None:
                # The provider said when to come back: waiting is not a failed attempt, and waiting
                # less would only earn another 429. The call's deadline bounds it.
                delay = max(0.0, retry_after)
            else:
                failed += 1
                if failed >= self.config.max_attempts:
                    raise ProviderUnavailableError(
                        f"gave up after {failed} attempts: {self._books.scrub(error.detail)}",
                        provider=self.provider,
                        endpoint=endpoint.name,
                    ) from error
                delay = self._backoff.delay(failed, error)
            if self._clock() + delay > deadline:
                raise ProviderUnavailableError(
                    f"gave up: waiting {delay:.1f} s more would pass the {self.config.deadline_s:g} s "
                    f"deadline (WALLETSYNC_PROVIDER_DEADLINE): {self._books.scrub(error.detail)}",
                    provider=self.provider,
                    endpoint=endpoint.name,
                ) from error
            metrics.RETRIES.labels(self.provider, kind).inc()
            log.info(
                "provider.request.retry",
                provider=self.provider,
                endpoint=endpoint.name,
                attempt=attempt,
                kind=kind,
                delay_s=round(delay, 3),
                counts_as_attempt=not told_when,
            )
            if not told_when:  # a rate limit is the provider's, not this endpoint's
                avoid.add(endpoint.url)
            previous, previous_kind = endpoint, kind
            await self._sleep(delay)

    async def _attempt(
        self,
        request: Request,
        attempt: int,
        avoid: set[str],
        previous: Endpoint | None,
        previous_kind: str,
    ) -> tuple[Outcome, Endpoint]:
        async with self._semaphore:
            endpoint, probe = await self._choose(avoid, first=previous is None)
            settled = False
            try:
                if previous is not None and endpoint is not previous:
                    log.info(
                        "provider.endpoint.rotated",
                        provider=self.provider,
                        from_endpoint=previous.name,
                        to_endpoint=endpoint.name,
                        attempt=attempt,
                        reason=previous_kind,
                    )
                waited = await self._limiter.acquire(request.cost)
                self._books.waited(waited)
                started = self._clock()
                outcome, status = await self._exchanger.exchange(request, endpoint)
                latency = self._clock() - started
                self._settle(endpoint, probe, outcome.error)
                settled = True
            finally:
                if not settled:  # cancelled, or a programming error: hand the probe slot back
                    endpoint.breaker.record_neutral(probe=probe)
                    self._pool.notify()
        self._books.record(request, endpoint, attempt, outcome.error, status, latency, waited)
        return outcome, endpoint

    async def _choose(self, avoid: set[str], *, first: bool) -> tuple[Endpoint, bool]:
        deadline: float | None = None
        while True:
            picked = self._pool.pick(avoid, probe=first)
            if picked is not None:
                return picked
            now = self._clock()
            if deadline is None:
                deadline = now + self.config.backoff_max_s
            wait = self._pool.next_usable_in()
            remaining = deadline - now
            if remaining <= 0 or (wait is not None and wait > remaining):
                errors = sorted({e.last_error for e in self.snapshot() if e.last_error})
                cause = f" (last error: {'; '.join(errors)})" if errors else ""
                raise ProviderUnavailableError(
                    f"every endpoint's circuit breaker is open{cause}", provider=self.provider
                )
            log.info(
                "provider.endpoint.waiting",
                provider=self.provider,
                wait_s=round(wait if wait is not None else remaining, 3),
            )
            await self._wait_for_change(wait if wait is not None else remaining)

    async def _wait_for_change(self, seconds: float) -> None:
        """Until `seconds` pass or an endpoint's state changes, whichever is first."""
        changed = asyncio.ensure_future(self._pool.changed())
        timer = asyncio.ensure_future(self._sleep(seconds))
        try:
            await asyncio.wait({changed, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (changed, timer):
                task.cancel()
            await asyncio.gather(changed, timer, return_exceptions=True)

    # --- bookkeeping ---------------------------------------------------------------------------

    def _settle(self, endpoint: Endpoint, probe: bool, error: ProviderError | None) -> None:
        breaker = endpoint.breaker
        if error is None or not error.retryable:
            breaker.record_success(probe=probe)
        elif isinstance(error, RateLimitedError):
            breaker.record_neutral(probe=probe)
        else:
            breaker.record_failure(
                self._books.scrub(f"{error_kind(error)}: {error.detail}")[:500], probe=probe
            )
        self._pool.notify()


def _wire(
    config: ProviderConfig, headers: Mapping[str, str] | None, transport: httpx.AsyncBaseTransport | None
) -> Wire:
    """httpx over the caller's transport (an SSRF guard, an ASGI app, a test's mock), else aiohttp."""
    if transport is not None:
        return HttpxWire(http_client(config, headers, transport))
    from walletsync.providers.wire_aiohttp import AiohttpWire  # aiohttp only where it is used

    return AiohttpWire(config, headers)
