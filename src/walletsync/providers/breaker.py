"""The circuit breaker of one provider endpoint: closed → open → half-open → closed.

- closed: calls flow; it opens when, over the last `window_s` seconds, at least `min_calls` calls
  were made, at least `threshold` of them failed, and failures are at least `failure_rate` of them.
  A rate over a window (not N failures in a row) so that an endpoint failing a third of the time
  under load stays in use: 5 failures in a row happen within seconds at that rate, a 50% failure
  rate over a minute of calls does not. A dead endpoint still opens after `max(threshold,
  min_calls)` calls.
- open: no calls until `cooldown_s` has passed since it opened.
- half-open: exactly one probe call goes through; success closes the breaker, failure reopens it
  (and restarts the cool-down). Other callers see the endpoint as unavailable meanwhile.

What counts is decided by the caller (`providers.http`): 5xx, timeouts, connection errors and malformed
bodies are failures; any other answer proves the endpoint alive and counts as success (a 404 or a
400 is about the request, not the endpoint); 429 is neutral (it neither opens nor closes: the rate
limiter and the retry backoff deal with it; a half-open probe that gets a 429 hands the probe slot
to the next caller).

The breaker keeps its time on an injected monotonic clock, and the wall-clock `opened_at` for
persistence and the health endpoint. `listener` hears every state change (for metrics, logs, persistence).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"
    HALF_OPEN = "half_open"
    OPEN = "open"


GAUGE_VALUE = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}
"""`walletsync_provider_breaker_state` values."""


def utcnow() -> datetime:
    return datetime.now(UTC)


class CircuitBreaker:
    """Breaker state of one endpoint. Not thread-safe; asyncio callers need no lock (no awaits inside)."""

    def __init__(
        self,
        *,
        threshold: int,
        cooldown_s: float,
        failure_rate: float = 0.5,
        window_s: float = 60.0,
        min_calls: int = 1,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = utcnow,
        listener: Callable[[CircuitBreaker, BreakerState], None] | None = None,
    ) -> None:
        if threshold < 1 or min_calls < 1:
            raise ValueError("threshold and min_calls must be >= 1")
        if not 0 < failure_rate <= 1 or window_s <= 0:
            raise ValueError("failure_rate must be in (0, 1] and window_s > 0")
        self.threshold = threshold
        self.failure_rate = failure_rate
        self.window_s = window_s
        self.min_calls = min_calls
        # Per-second buckets [second, calls, failures] of the last `window_s` seconds: memory stays
        # bounded by the window, not by the call rate.
        self._buckets: deque[list[int]] = deque()
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._now = now
        self.listener = listener
        self.state = BreakerState.CLOSED
        self.consecutive_failures = 0
        self.last_error: str | None = None
        self.opened_at: datetime | None = None
        self._opened_mono: float | None = None
        self._probe_in_flight = False

    def restore(
        self,
        state: BreakerState,
        *,
        consecutive_failures: int = 0,
        opened_at: datetime | None = None,
        last_error: str | None = None,
    ) -> None:
        """Start from a persisted state. Half-open restores as open: the probe of another run is gone."""
        self.consecutive_failures = consecutive_failures
        self.last_error = last_error
        if state is BreakerState.CLOSED:
            self.state = BreakerState.CLOSED
            self.opened_at = self._opened_mono = None
            return
        wall_now = self._now()
        opened = opened_at or wall_now
        age = max(0.0, (wall_now - opened).total_seconds())
        self.state = BreakerState.OPEN
        self.opened_at = opened
        self._opened_mono = self._clock() - age

    def retry_in(self) -> float | None:
        """Seconds until a call may go through: 0 now, None while waiting on another caller's probe."""
        if self.state is BreakerState.CLOSED:
            return 0.0
        if self.state is BreakerState.HALF_OPEN:
            return None if self._probe_in_flight else 0.0
        assert self._opened_mono is not None
        return max(0.0, self._opened_mono + self.cooldown_s - self._clock())

    def available(self) -> bool:
        return self.retry_in() == 0.0

    def acquire(self) -> bool | None:
        """Claim a call: None when refused, else whether this call is the half-open probe."""
        if not self.available():
            return None
        if self.state is BreakerState.CLOSED:
            return False
        if self.state is BreakerState.OPEN:
            self._transition(BreakerState.HALF_OPEN)
        self._probe_in_flight = True
        return True

    def window(self) -> tuple[int, int]:
        """(calls, failures) over the last `window_s` seconds."""
        self._expire()
        return sum(b[1] for b in self._buckets), sum(b[2] for b in self._buckets)

    def _expire(self) -> None:
        oldest = math.floor(self._clock() - self.window_s)
        while self._buckets and self._buckets[0][0] <= oldest:
            self._buckets.popleft()

    def _count(self, *, failed: bool) -> None:
        second = math.floor(self._clock())
        if not self._buckets or self._buckets[-1][0] != second:
            self._buckets.append([second, 0, 0])
        self._buckets[-1][1] += 1
        self._buckets[-1][2] += int(failed)

    def _tripped(self) -> bool:
        calls, failures = self.window()
        return (
            calls >= self.min_calls and failures >= self.threshold and failures >= self.failure_rate * calls
        )

    def record_success(self, *, probe: bool) -> None:
        if probe:
            self._probe_in_flight = False
        self.consecutive_failures = 0
        if self.state is not BreakerState.CLOSED:
            self.opened_at = self._opened_mono = None
            self._buckets.clear()  # a recovered endpoint starts a fresh window
            self._transition(BreakerState.CLOSED)
            return
        self._count(failed=False)

    def record_failure(self, error: str, *, probe: bool) -> None:
        self.consecutive_failures += 1
        self.last_error = error
        if probe:
            self._probe_in_flight = False
        if self.state is BreakerState.CLOSED:
            self._count(failed=True)
        failed_probe = probe and self.state is BreakerState.HALF_OPEN
        too_many = self.state is BreakerState.CLOSED and self._tripped()
        if failed_probe or too_many:
            self._open()
        # Otherwise a call admitted before the breaker opened failed late: the breaker is already open, or
        # the probe decides.

    def record_neutral(self, *, probe: bool) -> None:
        """Neither success nor failure (429, or the call was cancelled): give the probe slot back."""
        if probe:
            self._probe_in_flight = False

    def _open(self) -> None:
        self.opened_at = self._now()
        self._opened_mono = self._clock()
        self._transition(BreakerState.OPEN)

    def _transition(self, state: BreakerState) -> None:
        self.state = state
        if self.listener is not None:
            self.listener(self, state)
