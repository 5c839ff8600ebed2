"""The circuit breaker: closed → open → half-open → closed, and half-open → open."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.unit.providers.client_fakes import FakeClock
from walletsync.providers.breaker import BreakerState, CircuitBreaker

WALL = datetime(2026, 1, 1, tzinfo=UTC)


def make(clock: FakeClock, transitions: list[BreakerState] | None = None) -> CircuitBreaker:
    def now() -> datetime:
        return WALL + timedelta(seconds=clock.now)

    breaker = CircuitBreaker(threshold=3, cooldown_s=30.0, clock=clock, now=now)
    if transitions is not None:
        breaker.listener = lambda _, state: transitions.append(state)
    return breaker


def test_opens_on_failure_count_and_rate_within_the_window() -> None:
    """Three failures that are at least half of the window's calls open it, in a row or not."""
    clock = FakeClock(start=0.0)
    breaker = make(clock)
    breaker.record_failure("boom", probe=False)
    breaker.record_failure("boom", probe=False)
    breaker.record_success(probe=False)
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure("boom 3", probe=False)  # 3 of 4 calls failed
    assert breaker.state is BreakerState.OPEN
    assert breaker.last_error == "boom 3"
    assert breaker.opened_at == WALL
    assert breaker.acquire() is None


def rate_breaker(clock: FakeClock) -> CircuitBreaker:
    """The production defaults: 5 failures, 50 %, 60 s window, 20 calls at least."""
    return CircuitBreaker(
        threshold=5, cooldown_s=30.0, failure_rate=0.5, window_s=60.0, min_calls=20, clock=clock
    )


def test_a_third_of_calls_failing_never_opens_it_even_in_bursts() -> None:
    """35 % errors, including 7 failures in a row: closed (N failures in a row used to open it)."""
    clock = FakeClock(start=0.0)
    breaker = rate_breaker(clock)
    pattern = "F" * 7 + "S" * 13 + ("FSS" * 20)  # 27 failures in 80 calls = 34 %
    for outcome in pattern * 5:
        clock.advance(0.05)
        if outcome == "F":
            breaker.record_failure("500", probe=False)
        else:
            breaker.record_success(probe=False)
        assert breaker.state is BreakerState.CLOSED
    assert breaker.window() == (400, 135)


def test_a_dead_endpoint_opens_after_the_minimum_number_of_calls() -> None:
    clock = FakeClock(start=0.0)
    breaker = rate_breaker(clock)
    for n in range(1, 21):
        breaker.record_failure("refused", probe=False)
        assert breaker.state is (BreakerState.OPEN if n == 20 else BreakerState.CLOSED)


def test_old_calls_leave_the_window() -> None:
    """Failures older than the window no longer count towards opening."""
    clock = FakeClock(start=0.0)
    breaker = rate_breaker(clock)
    for _ in range(19):
        breaker.record_failure("refused", probe=False)
    clock.advance(61.0)
    assert breaker.window() == (0, 0)
    breaker.record_failure("refused", probe=False)
    assert breaker.state is BreakerState.CLOSED


def test_full_cycle_closed_open_half_open_closed() -> None:
    """After the cool-down one probe passes; others are refused; its success closes the breaker."""
    clock = FakeClock(start=0.0)
    transitions: list[BreakerState] = []
    breaker = make(clock, transitions)
    for _ in range(3):
        breaker.record_failure("down", probe=False)
    clock.advance(29.9)
    assert breaker.acquire() is None
    assert breaker.retry_in() == pytest.approx(0.1)
    clock.advance(0.1)
    assert breaker.acquire() is True  # the probe
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.acquire() is None  # only one probe
    assert breaker.retry_in() is None
    breaker.record_success(probe=True)
    assert breaker.state is BreakerState.CLOSED
    assert breaker.consecutive_failures == 0
    assert breaker.opened_at is None
    assert breaker.acquire() is False
    assert transitions == [BreakerState.OPEN, BreakerState.HALF_OPEN, BreakerState.CLOSED]


def test_failed_probe_reopens_and_restarts_the_cooldown() -> None:
    """Half-open → open on a failed probe, with a fresh opened_at and a full cool-down again."""
    clock = FakeClock(start=0.0)
    breaker = make(clock)
    for _ in range(3):
        breaker.record_failure("down", probe=False)
    clock.advance(30.0)
    assert breaker.acquire() is True
    breaker.record_failure("still down", probe=True)
    assert breaker.state is BreakerState.OPEN
    assert breaker.opened_at == WALL + timedelta(seconds=30)
    assert breaker.retry_in() == pytest.approx(30.0)
    assert breaker.acquire() is None


def test_neutral_probe_hands_the_slot_to_the_next_caller() -> None:
    """A probe answered with 429 neither closes nor reopens; the next caller may probe."""
    clock = FakeClock(start=0.0)
    breaker = make(clock)
    for _ in range(3):
        breaker.record_failure("down", probe=False)
    clock.advance(30.0)
    assert breaker.acquire() is True
    breaker.record_neutral(probe=True)
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.acquire() is True


def test_late_failure_of_a_call_admitted_while_closed_does_not_disturb_the_probe() -> None:
    """Only the probe decides a half-open breaker: an old call failing late leaves the probe in charge."""
    clock = FakeClock(start=0.0)
    breaker = make(clock)
    for _ in range(3):
        breaker.record_failure("down", probe=False)
    clock.advance(30.0)
    assert breaker.acquire() is True
    breaker.record_failure("late", probe=False)
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.acquire() is None


def test_restore_open_state_keeps_the_remaining_cooldown() -> None:
    """A breaker persisted open 10 s ago with a 30 s cool-down refuses calls for 20 s more."""
    clock = FakeClock(start=500.0)
    breaker = make(clock)
    breaker.restore(BreakerState.OPEN, consecutive_failures=7, opened_at=WALL + timedelta(seconds=490))
    assert breaker.state is BreakerState.OPEN
    assert breaker.retry_in() == pytest.approx(20.0)
    assert breaker.consecutive_failures == 7
