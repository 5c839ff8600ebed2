"""Full-jitter backoff bounds and Retry-After parsing."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from walletsync.providers.errors import RateLimitedError, UpstreamServerError
from walletsync.providers.retry import Backoff, parse_retry_after


class EdgeRandom(random.Random):
    """`uniform` returns one end of its range: the bounds of the jitter become observable."""

    def __init__(self, end: str) -> None:
        super().__init__(0)
        self.end = end

    def uniform(self, a: float, b: float) -> float:
        return a if self.end == "low" else b


def test_ceiling_doubles_up_to_the_max() -> None:
    """The n-th retry waits at most min(max, initial * 2^(n-1))."""
    backoff = Backoff(0.2, 3.0)
    assert [backoff.ceiling(n) for n in range(1, 7)] == pytest.approx([0.2, 0.4, 0.8, 1.6, 3.0, 3.0])
    assert backoff.ceiling(10_000) == 3.0


def test_full_jitter_spans_zero_to_the_ceiling() -> None:
    """The wait can be as low as 0 and as high as the ceiling, never outside."""
    assert Backoff(0.2, 3.0, EdgeRandom("low")).delay(4) == 0.0
    assert Backoff(0.2, 3.0, EdgeRandom("high")).delay(4) == pytest.approx(1.6)
    backoff = Backoff(0.2, 3.0, random.Random(1))
    for n in range(1, 9):
        samples = [backoff.delay(n) for _ in range(500)]
        assert all(0.0 <= s <= backoff.ceiling(n) for s in samples)
        # full jitter, not an exponential floor plus a little noise
        assert min(samples) < 0.1 * backoff.ceiling(n)


def test_retry_after_wins_and_is_capped() -> None:
    """A 429's Retry-After is the wait (no jitter), capped at the backoff max."""
    backoff = Backoff(0.2, 10.0, EdgeRandom("high"))
    assert backoff.delay(1, RateLimitedError("slow down", retry_after_s=3.0)) == 3.0
    assert backoff.delay(1, RateLimitedError("slow down", retry_after_s=120.0)) == 10.0
    assert backoff.delay(1, RateLimitedError("slow down")) == pytest.approx(0.2)
    assert backoff.delay(2, UpstreamServerError("boom")) == pytest.approx(0.4)


def test_parse_retry_after_seconds_and_http_dates() -> None:
    """Both forms of Retry-After are understood; garbage and the past are harmless."""
    now = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("5", now=now) == 5.0
    assert parse_retry_after(" 1.5 ", now=now) == 1.5
    assert parse_retry_after(format_datetime(now + timedelta(seconds=7), usegmt=True), now=now) == 7.0
    assert parse_retry_after(format_datetime(now - timedelta(seconds=7), usegmt=True), now=now) == 0.0
    assert parse_retry_after("-3", now=now) == 0.0
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after("", now=now) is None
    assert parse_retry_after(None, now=now) is None
