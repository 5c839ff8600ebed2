"""Per-process provider statistics by endpoint and minute, accumulated in memory for a flusher to
write to storage (`db.provider_stats`), so that every process's counts can be seen in one place.

Prometheus counters (`providers.metrics`) live in each process: the API process, which renders the
operations page, cannot see its workers'. A `ProviderStats` is what the resilient clients of one
process add to; `drain()` hands the counts over and starts afresh, `restore()` takes them back when
they could not be written (the database is down: counting goes on, nothing is lost until the cap).

Recording is a dict update under no lock (one event loop): it can never fail or slow a provider call.
Keys are the endpoint's display name (`host#hash6`), never a URL: keys in URLs must not leak.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

# Upper bounds (ms) of the throttle-wait histogram; one more bucket holds the longer waits.
WAIT_BOUNDS_MS = (10, 100, 1_000, 10_000)
WAIT_BUCKETS = len(WAIT_BOUNDS_MS) + 1
MAX_KEYS = 20_000  # minutes x endpoints kept while storage is unreachable (2 weeks of 2 endpoints)


@dataclass(frozen=True, slots=True, order=True)
class StatsKey:
    provider: str
    endpoint: str  # the display name, `host#hash6`
    minute: datetime  # UTC, truncated to the minute


@dataclass(slots=True)
class Counts:
    """One endpoint's attempts in one minute. `errors` excludes 429s, which `rate_limited` counts."""

    requests: int = 0
    errors: int = 0
    rate_limited: int = 0
    throttle_wait_ms: int = 0
    throttle_wait_max_ms: int = 0
    waits: list[int] = field(default_factory=lambda: [0] * WAIT_BUCKETS)

    def add(self, other: Counts) -> None:
        self.requests += other.requests
        self.errors += other.errors
        self.rate_limited += other.rate_limited
        self.throttle_wait_ms += other.throttle_wait_ms
        self.throttle_wait_max_ms = max(self.throttle_wait_max_ms, other.throttle_wait_max_ms)
        self.waits = [a + b for a, b in zip(self.waits, other.waits, strict=True)]


def wait_bucket(wait_ms: int) -> int:
    """The histogram bucket of a wait: the first bound it does not exceed, or the last bucket."""
    for i, bound in enumerate(WAIT_BOUNDS_MS):
        if wait_ms <= bound:
            return i
    return len(WAIT_BOUNDS_MS)


def minute_of(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


class ProviderStats:
    """The counts of one process since the last `drain()`."""

    def __init__(self, now: Callable[[], float] = time.time) -> None:
        self._now = now
        self._counts: dict[StatsKey, Counts] = {}

    def _bucket(self, provider: str, endpoint: str) -> Counts:
        minute = minute_of(datetime.fromtimestamp(self._now(), UTC))
        key = StatsKey(provider, endpoint, minute)
        counts = self._counts.get(key)
        if counts is None:
            counts = self._counts[key] = Counts()
            self._cap()
        return counts

    def attempt(self, provider: str, endpoint: str, outcome: str, waited_s: float) -> None:
        """One attempt sent to `endpoint`, its outcome (`providers.request.outcome_of`) and how long it
        waited for rate-limit tokens first."""
        counts = self._bucket(provider, endpoint)
        counts.requests += 1
        if outcome == "rate_limited":
            counts.rate_limited += 1
        elif outcome != "ok":
            counts.errors += 1
        wait_ms = max(0, round(waited_s * 1000))
        counts.throttle_wait_ms += wait_ms
        counts.throttle_wait_max_ms = max(counts.throttle_wait_max_ms, wait_ms)
        counts.waits[wait_bucket(wait_ms)] += 1

    def drain(self) -> dict[StatsKey, Counts]:
        """Everything counted so far; the recorder starts from zero."""
        drained, self._counts = self._counts, {}
        return drained

    def restore(self, drained: dict[StatsKey, Counts]) -> None:
        """Give back counts that could not be written, merged with what was counted meanwhile."""
        for key, counts in drained.items():
            mine = self._counts.get(key)
            if mine is None:
                self._counts[key] = counts
            else:
                mine.add(counts)
        self._cap()

    def _cap(self) -> None:
        """Storage unreachable for long: drop the oldest minutes rather than grow without bound."""
        if len(self._counts) > MAX_KEYS:
            for key in sorted(self._counts, key=lambda k: k.minute)[: len(self._counts) - MAX_KEYS]:
                del self._counts[key]

    def __len__(self) -> int:
        return len(self._counts)
