"""Retry policy of the resilient client: full-jitter exponential backoff and `Retry-After`.

Why not stamina (the library we use elsewhere for retries): the attempt loop of `providers.http` must
choose a new endpoint per attempt, feed each outcome to that endpoint's breaker, and decide per error
whether the request may already have reached the server (non-idempotent calls). That logic lives
inside each attempt whatever drives the loop. What stamina would add, the waiting, does not fit:
its jitter is additive (`min(max, initial * 2**n + U(0, jitter))`, never below the exponential
floor) where we want full jitter (`U(0, min(max, initial * 2**n))`, which spreads the retries of many
workers best), and it sleeps with a hard-wired `asyncio.sleep`, so backoff can only be tested by
switching its global test mode, which sets every wait to 0 and leaves nothing to assert. Its
`on=` hook can return a wait (used for `Retry-After`), but then the sleep is still not injectable.
So the policy is this small class with an injected random source, and the client awaits an injected
sleep.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from walletsync.providers.errors import ProviderError, RateLimitedError


class Backoff:
    """Full-jitter exponential backoff: after the n-th failed attempt wait U(0, min(max, initial·2^(n-1)))."""

    def __init__(self, initial_s: float, max_s: float, rng: random.Random | None = None) -> None:
        if initial_s <= 0 or max_s <= 0:
            raise ValueError("backoff initial and max must be > 0")
        self.initial_s = initial_s
        self.max_s = max_s
        self._rng = rng or random.Random()

    def ceiling(self, failed_attempts: int) -> float:
        """The largest wait after `failed_attempts` (>= 1) failures."""
        exponent = min(failed_attempts - 1, 64)  # 2**64 * initial is past any max; avoids huge floats
        return min(self.max_s, self.initial_s * 2.0**exponent)

    def delay(self, failed_attempts: int, error: ProviderError | None = None) -> float:
        """The wait before the next attempt; a 429's `Retry-After` wins, capped at `max_s`."""
        if isinstance(error, RateLimitedError) and error.retry_after_s is not None:
            return min(self.max_s, max(0.0, error.retry_after_s))
        return self._rng.uniform(0.0, self.ceiling(failed_attempts))


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """`Retry-After` as seconds from now: delta-seconds or an HTTP date; None when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
