"""The endpoint URLs of one provider, their breakers, and the weighted choice among them.

An endpoint is usable when its breaker lets a call through (closed, cooled-down open, or half-open with
no probe in flight). `pick` makes a weighted random choice among usable endpoints, preferring those the
current call has not failed on yet, so a retry goes elsewhere when it can; a retry also leaves half-open
probes to fresh calls while a closed endpoint is usable. A weight of 0 makes an
endpoint a standby: chosen only when no weighted endpoint is usable.

`EndpointState` is the persisted and reported form of an endpoint (the health endpoint, the
`provider_endpoints` table). Its `url` is the endpoint's display name, never the URL: keys live in
paths (`/v2/<key>`), queries (`?api-key=`) and user info, so only the host and a short hash of the whole
URL are shown (`rpc.example.com#3fa9c1`); the hash tells two endpoints on one host apart and is the
endpoint's identity in storage, logs and metric labels.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

import httpx

from walletsync.providers.breaker import BreakerState, CircuitBreaker, utcnow


@dataclass(frozen=True, slots=True)
class EndpointState:
    """One endpoint's health, as persisted and reported."""

    provider: str
    url: str
    weight: int = 1
    breaker_state: BreakerState = BreakerState.CLOSED
    consecutive_failures: int = 0
    opened_at: datetime | None = None
    last_error: str | None = None


def display_name(url: str) -> str:
    """`host[:port]#<6 hex of SHA-256 of the whole URL>`: safe to log, store and show, unique per URL."""
    parsed = httpx.URL(url)
    host = parsed.host if parsed.port is None else f"{parsed.host}:{parsed.port}"
    digest = hashlib.sha256(url.strip().rstrip("/").encode()).hexdigest()[:6]
    return f"{host}#{digest}"


def url_secrets(url: str) -> list[str]:
    """Parts of `url` that may be credentials (path, query values, password): to scrub from error text."""
    parsed = httpx.URL(url)
    values = [value for _, value in parsed.params.multi_items()]
    if parsed.password:
        values.append(parsed.password)
    path = parsed.path.rstrip("/")
    if path:
        values.append(path)  # `/v2/<key>`: every request URL to this endpoint starts with it
    return values


class Endpoint:
    """One base URL of a provider and its breaker."""

    def __init__(self, provider: str, url: str, weight: int, breaker: CircuitBreaker) -> None:
        self.provider = provider
        self.url = url
        # The only form of the URL that leaves this object (logs, metric labels, storage, errors).
        self.name = display_name(url)
        self.host = httpx.URL(url).host
        self.weight = max(0, weight)
        self.breaker = breaker

    def state(self) -> EndpointState:
        b = self.breaker
        return EndpointState(
            provider=self.provider,
            url=self.name,
            weight=self.weight,
            breaker_state=b.state,
            consecutive_failures=b.consecutive_failures,
            opened_at=b.opened_at,
            last_error=b.last_error,
        )


class EndpointPool:
    """The endpoints of one provider; `changed()` wakes callers waiting for one to become usable."""

    def __init__(
        self,
        provider: str,
        urls: Sequence[str],
        *,
        threshold: int,
        cooldown_s: float,
        failure_rate: float = 0.5,
        window_s: float = 60.0,
        min_calls: int = 1,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
        initial_states: Sequence[EndpointState] = (),
        on_transition: Callable[[Endpoint, BreakerState], None] | None = None,
    ) -> None:
        if not urls:
            raise ValueError(f"{provider}: no endpoint URLs configured")
        self.provider = provider
        self._rng = rng or random.Random()
        self._on_transition = on_transition
        self._changed = asyncio.Event()
        saved = {state.url: state for state in initial_states if state.provider in ("", provider)}
        self.endpoints: list[Endpoint] = []
        for url in urls:
            breaker = CircuitBreaker(
                threshold=threshold,
                cooldown_s=cooldown_s,
                failure_rate=failure_rate,
                window_s=window_s,
                min_calls=min_calls,
                clock=clock,
                now=now,
            )
            endpoint = Endpoint(provider, url, 1, breaker)
            state = saved.get(endpoint.name)
            if state is not None:
                endpoint.weight = max(0, state.weight)
                breaker.restore(
                    state.breaker_state,
                    consecutive_failures=state.consecutive_failures,
                    opened_at=state.opened_at,
                    last_error=state.last_error,
                )
            breaker.listener = self._listener_for(endpoint)
            self.endpoints.append(endpoint)

    def _listener_for(self, endpoint: Endpoint) -> Callable[[CircuitBreaker, BreakerState], None]:
        def listener(_: CircuitBreaker, state: BreakerState) -> None:
            if self._on_transition is not None:
                self._on_transition(endpoint, state)

        return listener

    def pick(self, avoid: Collection[str] = (), *, probe: bool = True) -> tuple[Endpoint, bool] | None:
        """A usable endpoint (and whether the call is its half-open probe), or None when none is usable.

        `probe=False` (a retry) prefers closed endpoints: a call that already failed should not spend an
        attempt on an endpoint known to be failing while a healthy one is usable.
        """
        usable = [e for e in self.endpoints if e.breaker.available()]
        if not probe:
            closed = [e for e in usable if e.breaker.state is BreakerState.CLOSED]
            usable = closed or usable
        fresh = [e for e in usable if e.url not in avoid]
        candidates = fresh or usable
        if not candidates:
            return None
        weighted = [e for e in candidates if e.weight > 0]
        if weighted:
            endpoint = self._rng.choices(weighted, weights=[e.weight for e in weighted])[0]
        else:
            endpoint = self._rng.choice(candidates)
        claimed = endpoint.breaker.acquire()
        assert claimed is not None  # available() was just true and nothing awaited since
        return endpoint, claimed

    def next_usable_in(self) -> float | None:
        """Seconds until some endpoint cools down; None when only half-open probes are awaited."""
        waits = [w for e in self.endpoints if (w := e.breaker.retry_in()) is not None]
        return min(waits) if waits else None

    def notify(self) -> None:
        """Wake every caller waiting in `changed()` (a probe finished, a breaker changed)."""
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    async def changed(self) -> None:
        await self._changed.wait()

    def states(self) -> list[EndpointState]:
        return [e.state() for e in self.endpoints]
