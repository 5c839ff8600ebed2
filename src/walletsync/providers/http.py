"""The resilient HTTP client every provider adapter uses (`ResilientClient`, implementing `JsonTransport`).

One instance per provider, one `httpx.AsyncClient` inside. A call goes:

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
5. the request, bounded by `timeout_s` in total (httpx's connect timeout is half of it, so an
   unreachable endpoint is recognised as "never sent"); the adapter's `ErrorClassifier` reads the answer;
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
state; never URLs with keys, query parameters or headers) and updates the `walletsync_provider_*`
metrics. Breaker changes go to the async `on_change` hook (persistence lives outside `providers/`),
one at a time in the background so a slow database never slows a request; `flush_state()` awaits them.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from types import TracebackType
from typing import Any, Self

import httpx
import orjson
import structlog

from walletsync.config import ProviderConfig
from walletsync.providers import metrics
from walletsync.providers.breaker import GAUGE_VALUE, BreakerState, utcnow
from walletsync.providers.classify import default_classifier
from walletsync.providers.endpoints import Endpoint, EndpointPool, EndpointState, url_secrets
from walletsync.providers.errors import (
    MalformedResponseError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitedError,
)
from walletsync.providers.metadata_cache import TtlCache
from walletsync.providers.ratelimit import LocalTokenBucket, RateLimiter
from walletsync.providers.retry import Backoff
from walletsync.providers.types import ErrorClassifier

log = structlog.get_logger(__name__)

OnChange = Callable[[EndpointState], Awaitable[None]]
Sleep = Callable[[float], Awaitable[None]]

_SECRET_NAME = re.compile(r"key|token|secret|auth|project_id|password", re.IGNORECASE)
_ID_SEGMENT = re.compile(r"^(\d+|[^/]{16,})$")


def path_template(path: str) -> str:
    """`path` with identifier segments (numbers, addresses, hashes) replaced by `{id}`: bounded, loggable."""
    return "/".join("{id}" if _ID_SEGMENT.match(seg) else seg for seg in path.split("?", 1)[0].split("/"))


def error_kind(error: ProviderError) -> str:
    """A bounded label for an error: its class name in snake case, without `_error`."""
    name = re.sub(r"(?<!^)(?=[A-Z])", "_", type(error).__name__).lower()
    return name.removesuffix("_error") or "provider"


def outcome_of(error: ProviderError | None) -> str:
    if error is None:
        return "ok"
    if isinstance(error, RateLimitedError):
        return "rate_limited"
    if isinstance(error, ProviderTimeoutError):
        return "timeout"
    if isinstance(error, ProviderConnectionError):
        return "connection_error"
    if isinstance(error, MalformedResponseError):
        return "malformed"
    return "server_error" if error.retryable else "client_error"


@dataclass(frozen=True, slots=True)
class _Request:
    method: str
    path: str
    params: Mapping[str, str | int] | None
    body: Any
    idempotent: bool
    cost: int
    content: bytes | None = None  # sent as is (`post_bytes`), instead of `body` as JSON
    headers: Mapping[str, str] | None = None

    def cache_key(self) -> str:
        params = sorted((self.params or {}).items())
        return json.dumps([self.method, self.path, params, self.body], sort_keys=True, separators=(",", ":"))

    def rpc_method(self) -> str | None:
        if isinstance(self.body, dict) and isinstance(self.body.get("method"), str):
            return str(self.body["method"])
        if isinstance(self.body, list):
            return f"batch[{len(self.body)}]"
        return None


@dataclass(frozen=True, slots=True)
class _Outcome:
    body: Any = None
    error: ProviderError | None = None
    maybe_sent: bool = True  # could the server have processed the request?


KEEPALIVE_POOL_CAP = 16


def decode_json(content: bytes) -> Any:
    """orjson (several times faster on large RPC batches), or the stdlib for what orjson refuses
    (integers beyond 64 bits, which JSON allows)."""
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        return json.loads(content)


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
    ) -> None:
        self.config = config
        self.provider = config.name
        self._classify = classify
        self._clock = clock
        self._sleep = sleep
        self._on_change = on_change
        rng = rng or random.Random()
        self._limiter: RateLimiter = rate_limiter or LocalTokenBucket(
            config.rate, config.burst, clock=clock, sleep=sleep
        )
        self._semaphore = asyncio.Semaphore(config.max_concurrency)
        self._backoff = Backoff(config.backoff_initial_s, config.backoff_max_s, rng)
        self._cache = TtlCache(clock=clock, max_entries=cache_max_entries)
        self._default_params = dict(params or {})
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
            on_transition=self._on_transition,
        )
        secrets = {config.api_key or ""}
        secrets |= {v for k, v in (headers or {}).items() if _SECRET_NAME.search(k)}
        secrets |= {v for k, v in self._default_params.items() if _SECRET_NAME.search(k)}
        for url in config.urls:
            secrets |= set(url_secrets(url))
        self._secrets = sorted((s for s in secrets if len(s) >= 4), key=len, reverse=True)
        self._persist_lock = asyncio.Lock()
        self._persist_tasks: set[asyncio.Task[None]] = set()
        self._dirty: set[str] = set()
        self._http = httpx.AsyncClient(
            transport=transport,
            headers={"Accept": "application/json", "User-Agent": "walletsync", **(headers or {})},
            timeout=httpx.Timeout(config.timeout_s, connect=config.timeout_s / 2),
            limits=httpx.Limits(
                max_connections=config.max_concurrency + len(config.urls),
                # Measured (bench/sync_latency.py and a bare uvicorn server): with ~100 requests in
                # flight and as many idle keep-alive connections, requests reusing them stall for
                # seconds; capping the idle pool keeps 160 requests at 200 ms latency near 0.4 s.
                max_keepalive_connections=min(config.max_concurrency, KEEPALIVE_POOL_CAP),
            ),
            follow_redirects=False,
        )
        for endpoint in self._pool.endpoints:
            metrics.BREAKER_STATE.labels(self.provider, endpoint.name).set(
                GAUGE_VALUE[endpoint.breaker.state]
            )

    # --- JsonTransport ---------------------------------------------------------------------

    async def get_json(
        self,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        cache_ttl_s: float | None = None,
        cost: int = 1,
    ) -> Any:
        request = _Request("GET", path, params, None, idempotent=True, cost=cost)
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
        request = _Request("POST", path, None, body, idempotent=idempotent, cost=cost)
        return await self._call(request, cache_ttl_s)

    async def post_bytes(self, path: str, *, content: bytes, headers: Mapping[str, str]) -> int:
        """POST `content` exactly as given (e.g. a signed webhook body) and return the HTTP status.

        The classifier alone decides success (the answer need not be JSON). Never retried once it may
        have reached the server: the caller owns redelivery.
        """
        request = _Request(
            "POST", path, None, None, idempotent=False, cost=1, content=content, headers=headers
        )
        status: int = await self._send(request)
        return status

    # --- health, lifecycle -----------------------------------------------------------------

    @property
    def metadata_ttl_s(self) -> float:
        """The configured TTL for slow-changing metadata (what adapters pass as `cache_ttl_s`)."""
        return self.config.metadata_cache_ttl_s

    def snapshot(self) -> list[EndpointState]:
        """Every endpoint's health now (public URL, breaker state, failures, last error, opened_at)."""
        return [self._public(state) for state in self._pool.states()]

    async def flush_state(self) -> None:
        """Wait until every breaker change has been handed to `on_change`."""
        while self._persist_tasks:
            await asyncio.gather(*self._persist_tasks)

    async def aclose(self) -> None:
        await self.flush_state()
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # --- the call ----------------------------------------------------------------------------

    async def _call(self, request: _Request, cache_ttl_s: float | None) -> Any:
        if not cache_ttl_s or cache_ttl_s <= 0:
            return await self._send(request)
        value, cached = await self._cache.get_or_load(
            request.cache_key(), cache_ttl_s, lambda: self._send(request)
        )
        metrics.CACHE.labels(self.provider, "hit" if cached else "miss").inc()
        return value

    async def _send(self, request: _Request) -> Any:
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
                        f"gave up after {failed} attempts: {self._scrub(error.detail)}",
                        provider=self.provider,
                        endpoint=endpoint.name,
                    ) from error
                delay = self._backoff.delay(failed, error)
            if self._clock() + delay > deadline:
                raise ProviderUnavailableError(
                    f"gave up: waiting {delay:.1f} s more would pass the {self.config.deadline_s:g} s "
                    f"deadline (WALLETSYNC_PROVIDER_DEADLINE): {self._scrub(error.detail)}",
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
        request: _Request,
        attempt: int,
        avoid: set[str],
        previous: Endpoint | None,
        previous_kind: str,
    ) -> tuple[_Outcome, Endpoint]:
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
                metrics.RATELIMIT_WAIT_SECONDS.labels(self.provider).observe(waited)
                started = self._clock()
                outcome, status = await self._exchange(request, endpoint)
                latency = self._clock() - started
                self._settle(endpoint, probe, outcome.error)
                settled = True
            finally:
                if not settled:  # cancelled, or a programming error: hand the probe slot back
                    endpoint.breaker.record_neutral(probe=probe)
                    self._pool.notify()
        self._record(request, endpoint, attempt, outcome.error, status, latency)
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

    async def _exchange(self, request: _Request, endpoint: Endpoint) -> tuple[_Outcome, int | None]:
        """One HTTP exchange: the decoded body or the typed error, and the status when there was one."""
        url = self._url(endpoint, request)
        try:
            async with asyncio.timeout(self.config.timeout_s):
                if request.content is not None:
                    response = await self._http.request(
                        request.method, url, content=request.content, headers=request.headers
                    )
                else:
                    response = await self._http.request(
                        request.method, url, json=request.body if request.method == "POST" else None
                    )
        except (httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            return self._failed(ProviderTimeoutError, "connect timeout", exc, endpoint, sent=False), None
        except httpx.TimeoutException as exc:
            return self._failed(ProviderTimeoutError, "read timeout", exc, endpoint, sent=True), None
        except TimeoutError as exc:
            detail = f"no answer within {self.config.timeout_s}s"
            return self._failed(ProviderTimeoutError, detail, exc, endpoint, sent=True), None
        except httpx.ConnectError as exc:
            return self._failed(ProviderConnectionError, "cannot connect", exc, endpoint, sent=False), None
        except httpx.TransportError as exc:
            return self._failed(ProviderConnectionError, "connection lost", exc, endpoint, sent=True), None
        status = response.status_code
        if request.content is not None:  # raw exchange: the status is the answer
            raw_error = self._classify(status, None, response.headers)
            if raw_error is None:
                return _Outcome(body=status), status
            raw_error.provider = raw_error.provider or self.provider
            raw_error.endpoint = raw_error.endpoint or endpoint.name
            return _Outcome(error=raw_error, maybe_sent=not isinstance(raw_error, RateLimitedError)), status
        decoded = True
        try:
            body: Any = decode_json(response.content)
        except (ValueError, RecursionError):
            body, decoded = None, False
        error = self._classify(status, body, response.headers)
        if error is None and not decoded:
            error = MalformedResponseError(f"HTTP {status} with a body that is not JSON", http_status=status)
        if error is None:
            return _Outcome(body=body), status
        error.provider = error.provider or self.provider
        error.endpoint = error.endpoint or endpoint.name
        # A 429 was refused before processing; any other answer may follow a processed request.
        return _Outcome(error=error, maybe_sent=not isinstance(error, RateLimitedError)), status

    def _failed(
        self,
        kind: type[ProviderError],
        what: str,
        exc: BaseException,
        endpoint: Endpoint,
        *,
        sent: bool,
    ) -> _Outcome:
        reason = self._scrub(str(exc)) or type(exc).__name__
        error = kind(f"{what}: {reason}", provider=self.provider, endpoint=endpoint.name)
        error.__cause__ = exc
        return _Outcome(error=error, maybe_sent=sent)

    def _url(self, endpoint: Endpoint, request: _Request) -> httpx.URL:
        """Endpoint URL + path, keeping the endpoint's own query (e.g. `?api-key=`) beside ours."""
        url = httpx.URL(endpoint.url)
        if request.path:
            url = url.copy_with(path=url.path.rstrip("/") + "/" + request.path.lstrip("/"))
        params = {**self._default_params, **(request.params or {})}
        return url.copy_merge_params(params) if params else url

    # --- bookkeeping ---------------------------------------------------------------------------

    def _settle(self, endpoint: Endpoint, probe: bool, error: ProviderError | None) -> None:
        breaker = endpoint.breaker
        if error is None or not error.retryable:
            breaker.record_success(probe=probe)
        elif isinstance(error, RateLimitedError):
            breaker.record_neutral(probe=probe)
        else:
            breaker.record_failure(self._scrub(f"{error_kind(error)}: {error.detail}")[:500], probe=probe)
        self._pool.notify()

    def _record(
        self,
        request: _Request,
        endpoint: Endpoint,
        attempt: int,
        error: ProviderError | None,
        status: int | None,
        latency: float,
    ) -> None:
        outcome = outcome_of(error)
        metrics.REQUESTS.labels(self.provider, endpoint.name, outcome).inc()
        metrics.REQUEST_SECONDS.labels(self.provider, endpoint.name).observe(latency)
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
        fields["error"] = self._scrub(error.detail)[:300]
        if outcome == "client_error":
            log.info("provider.request", **fields)
        else:
            log.warning("provider.request", **fields)

    def _on_transition(self, endpoint: Endpoint, state: BreakerState) -> None:
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
            state = self._public(endpoint.state())
            try:
                await self._on_change(state)
            except Exception as exc:  # noqa: BLE001 - persistence is best effort; requests must go on
                log.warning(
                    "provider.endpoint.persist_failed",
                    provider=self.provider,
                    endpoint=endpoint.name,
                    error=type(exc).__name__,
                )

    def _public(self, state: EndpointState) -> EndpointState:
        if state.last_error is None:
            return state
        return replace(state, last_error=self._scrub(state.last_error))

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "[redacted]")
        return text
