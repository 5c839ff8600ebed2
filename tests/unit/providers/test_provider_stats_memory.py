"""The in-memory side of provider statistics: minute buckets, the wait histogram, giving counts back
after a failed write, the cap while storage is unreachable, and the page's percentile bounds."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from walletsync.db.provider_stats import Window
from walletsync.providers import stats as stats_module
from walletsync.providers.stats import ProviderStats, StatsKey, wait_bucket

NOON = datetime(2026, 11, 29, 12, 0, tzinfo=UTC).timestamp()


def test_attempts_land_in_their_minute_and_wait_bucket() -> None:
    clock = [NOON + 59.9]
    stats = ProviderStats(now=lambda: clock[0])
    stats.attempt("solana", "a#111111", "ok", 0.0)
    stats.attempt("solana", "a#111111", "rate_limited", 0.1004)  # 100 ms: still the <= 100 ms bucket
    clock[0] = NOON + 60.0
    stats.attempt("solana", "a#111111", "timeout", 12.0)
    drained = stats.drain()
    assert len(stats) == 0
    first = drained[StatsKey("solana", "a#111111", datetime(2026, 11, 29, 12, 0, tzinfo=UTC))]
    second = drained[StatsKey("solana", "a#111111", datetime(2026, 11, 29, 12, 1, tzinfo=UTC))]
    assert (first.requests, first.errors, first.rate_limited, first.throttle_wait_ms) == (2, 0, 1, 100)
    assert first.waits == [1, 1, 0, 0, 0]
    assert (second.requests, second.errors, second.throttle_wait_max_ms, second.waits) == (
        1,
        1,
        12_000,
        [0, 0, 0, 0, 1],
    )
    assert [wait_bucket(ms) for ms in (0, 10, 11, 1_000, 10_000, 10_001)] == [0, 0, 1, 2, 3, 4]


def test_counts_given_back_merge_with_new_ones() -> None:
    stats = ProviderStats(now=lambda: NOON)
    stats.attempt("solana", "a#111111", "ok", 0.002)
    failed_write = stats.drain()
    stats.attempt("solana", "a#111111", "server_error", 0.5)
    stats.restore(failed_write)
    [(_, counts)] = stats.drain().items()
    assert (counts.requests, counts.errors, counts.throttle_wait_ms, counts.throttle_wait_max_ms) == (
        2,
        1,
        502,
        500,
    )
    assert counts.waits == [1, 0, 1, 0, 0]


def test_the_oldest_minutes_go_first_past_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stats_module, "MAX_KEYS", 3)
    clock = [NOON]
    stats = ProviderStats(now=lambda: clock[0])
    for minute in range(5):
        clock[0] = NOON + 60 * minute
        stats.attempt("solana", "a#111111", "ok", 0.0)
    assert sorted(key.minute.minute for key in stats.drain()) == [2, 3, 4]


def test_percentile_bounds_come_from_the_histogram() -> None:
    # 10 attempts: 6 waited <= 10 ms, 3 <= 100 ms, 1 took 42 s (the open bucket: the longest wait).
    window = Window(requests=10, errors=2, waits=(6, 3, 0, 0, 1), throttle_wait_max_ms=42_000)
    assert window.error_rate == 0.2
    assert window.wait_percentile_ms(0.5) == 10
    assert window.wait_percentile_ms(0.9) == 100
    assert window.wait_percentile_ms(0.95) == 42_000
    assert Window().wait_percentile_ms(0.5) is None
    assert Window().error_rate is None
