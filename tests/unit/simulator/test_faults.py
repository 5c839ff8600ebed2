"""Fault decisions and the token bucket, on an injected clock (no sleeps)."""

from __future__ import annotations

from collections import Counter

import pytest

from walletsync.simulator.faults import FaultConfig, FaultInjector, FaultRule, Outage, RateLimit, TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_burst_then_reports_the_wait() -> None:
    """A full bucket serves `burst` requests; the next waits 1/rate; time refills it."""
    clock = FakeClock()
    bucket = TokenBucket(rate=2.0, burst=3, clock=clock)
    assert [bucket.take(1) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(1) == pytest.approx(0.5)
    clock.now += 0.25
    assert bucket.take(1) == pytest.approx(0.25)
    clock.now += 0.25
    assert bucket.take(1) == 0.0


def test_rejected_request_costs_nothing_and_batches_cost_per_call() -> None:
    """A 429 leaves the tokens alone; a batch of N takes N; an oversized one waits for a full bucket."""
    clock = FakeClock()
    bucket = TokenBucket(rate=1.0, burst=5, clock=clock)
    assert bucket.take(4) == 0.0
    assert bucket.take(3) == pytest.approx(2.0)
    assert bucket.take(3) == pytest.approx(2.0)  # still 1 token left: the rejections charged nothing
    assert bucket.take(1) == 0.0
    clock.now += 5
    assert bucket.take(8) == 0.0  # larger than the bucket: allowed when full, leaves a debt
    assert bucket.take(1) == pytest.approx(4.0)


def test_injector_counts_violations_and_rounds_retry_after_up() -> None:
    """Over the limit: rate_limited with Retry-After = ceil(wait) >= 1, violations counted per provider."""
    clock = FakeClock()
    injector = FaultInjector(FaultConfig(rate_limits={"solana": RateLimit(rate=0.4, burst=2)}), clock=clock)
    kinds = [injector.decide("solana", i % 3).kind for i in range(5)]
    assert kinds == ["ok", "ok", "rate_limited", "rate_limited", "rate_limited"]
    assert injector.decide("solana", 0).retry_after_s == 3  # 1 token at 0.4/s: 2.5 s -> 3
    assert injector.decide("blockfrost", 0).kind == "ok"  # other providers have their own (no) bucket
    stats = injector.stats()
    assert stats["violations"] == {"solana": 4, "blockfrost": 0, "twelvedata": 0}
    assert stats["requests"]["solana"] == 6
    assert stats["endpoints"]["solana/1"] == 2
    injector.reset()
    assert injector.stats()["requests"]["solana"] == 0
    assert injector.decide("solana", 0).kind == "ok"  # reset refills the bucket


def test_batch_cost_can_be_switched_off() -> None:
    """With batch_cost_per_call off, a batch takes one token."""
    injector = FaultInjector(
        FaultConfig(rate_limits={"solana": RateLimit(rate=1, burst=2)}, batch_cost_per_call=False),
        clock=FakeClock(),
    )
    assert [injector.decide("solana", 0, cost=50).kind for _ in range(3)] == ["ok", "ok", "rate_limited"]


def test_outage_window_follows_the_clock() -> None:
    """An outage of endpoint 1 applies in [start, end) seconds since start, and only there."""
    clock = FakeClock()
    outage = Outage(provider="twelvedata", endpoint=1, start_s=5, end_s=10, mode="close")
    injector = FaultInjector(FaultConfig(outages=[outage]), clock=clock)
    assert injector.decide("twelvedata", 1).kind == "ok"
    clock.now += 5
    decision = injector.decide("twelvedata", 1)
    assert (decision.kind, decision.variant) == ("outage", "close")
    assert injector.decide("twelvedata", 0).kind == "ok"
    clock.now += 5
    assert injector.decide("twelvedata", 1).kind == "ok"
    assert injector.stats()["faults"]["outage"] == 1


def test_rates_are_per_endpoint_and_seeded() -> None:
    """Endpoint rules override provider rules; the same seed gives the same sequence of faults."""
    config = FaultConfig(
        seed=3,
        providers={"blockfrost": FaultRule(fail_rate=0.5, malformed_rate=0.25, latency_ms=(10, 20))},
        endpoints={"blockfrost/2": FaultRule(timeout_rate=1.0, hang_s=7)},
    )
    first = FaultInjector(config, clock=FakeClock())
    second = FaultInjector(config, clock=FakeClock())
    run = [first.decide("blockfrost", 0) for _ in range(400)]
    assert run == [second.decide("blockfrost", 0) for _ in range(400)]
    kinds = Counter(d.kind for d in run)
    assert 150 < kinds["server_error"] < 250
    assert 60 < kinds["malformed"] < 140
    assert all(0.010 <= d.latency_s <= 0.020 for d in run)
    assert {d.status for d in run if d.kind == "server_error"} == {500}
    hang = first.decide("blockfrost", 2)
    assert (hang.kind, hang.hang_s) == ("timeout", 7)
    assert first.decide("solana", 2).kind == "ok"


def test_config_round_trips_through_json() -> None:
    """The admin route's JSON form parses back to the same config."""
    config = FaultConfig(
        default=FaultRule(latency_ms=5),
        rate_limits={"twelvedata": RateLimit(rate=8 / 60, burst=8)},
        outages=[Outage(provider="solana", endpoint=0)],
    )
    assert FaultConfig.model_validate_json(config.model_dump_json()) == config
    with pytest.raises(ValueError, match="fail_rate"):
        FaultConfig.model_validate({"default": {"fail_rate": 2}})
