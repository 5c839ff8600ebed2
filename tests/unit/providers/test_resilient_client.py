"""`ResilientClient` over `httpx.MockTransport`: retries, backoff, breakers, failover, cache, metrics, logs."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
import structlog
from prometheus_client import REGISTRY

from tests.unit.providers.client_fakes import FakeClock, make_config
from walletsync.providers.breaker import BreakerState
from walletsync.providers.endpoints import EndpointState, display_name
from walletsync.providers.errors import (
    MalformedResponseError,
    ProviderError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitedError,
    UpstreamNotFoundError,
    UpstreamServerError,
)
from walletsync.providers.http import ResilientClient, path_template

Handler = Callable[[httpx.Request], httpx.Response]


class EdgeRandom(random.Random):
    """`uniform` returns the top of its range, so each backoff wait equals its ceiling."""

    def uniform(self, a: float, b: float) -> float:
        return b


def client_for(
    handler: Handler,
    clock: FakeClock,
    *,
    rng: random.Random | None = None,
    **config: Any,
) -> ResilientClient:
    extra = {
        k: config.pop(k)
        for k in ("headers", "params", "initial_states", "on_change", "classify")
        if k in config
    }
    return ResilientClient(
        make_config(**config),
        transport=httpx.MockTransport(handler),
        clock=clock,
        sleep=clock.sleep,
        rng=rng or random.Random(3),
        **extra,
    )


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_get_returns_decoded_json_with_params_and_auth() -> None:
    """A GET goes to the endpoint base + path with default and call params and default headers."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": [1, 2]})

    clock = FakeClock()
    async with client_for(
        handler,
        clock,
        urls=("http://a.test/api/v0?api-key=K1234",),
        headers={"project_id": "proj-secret"},
        params={"format": "json"},
    ) as client:
        assert await client.get_json("txs/abc", params={"page": 2}) == {"ok": [1, 2]}
    (request,) = seen
    assert request.url.path == "/api/v0/txs/abc"
    assert dict(request.url.params) == {"api-key": "K1234", "format": "json", "page": "2"}
    assert request.headers["project_id"] == "proj-secret"


async def test_post_sends_json_body_to_the_base_url() -> None:
    """A JSON-RPC POST with an empty path goes to the endpoint URL itself."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"jsonrpc": "2.0", "id": 1, "result": 5})

    async with client_for(handler, FakeClock(), urls=("http://rpc.test/",)) as client:
        body = {"jsonrpc": "2.0", "id": 1, "method": "getSlot"}
        assert (await client.post_json("", body=body))["result"] == 5
    assert seen[0].method == "POST"
    assert json.loads(seen[0].content) == body


async def test_server_errors_are_retried_with_bounded_full_jitter_backoff() -> None:
    """Four 503s then 200: the waits are the full-jitter ceilings 0.2, 0.4, 0.8, 1.6 (rng at the top)."""
    answers = [503, 503, 503, 503, 200]

    def handler(request: httpx.Request) -> httpx.Response:
        status = answers.pop(0)
        return httpx.Response(status, json={"n": len(answers)})

    clock = FakeClock()
    async with client_for(
        handler, clock, rng=EdgeRandom(0), max_attempts=5, breaker_failure_threshold=100
    ) as client:
        assert await client.get_json("x") == {"n": 0}
    assert clock.sleeps == pytest.approx([0.2, 0.4, 0.8, 1.6])


async def test_backoff_waits_stay_within_their_bounds() -> None:
    """With a real random source every wait lies in [0, min(max, initial * 2^(n-1))]."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, json={})

    clock = FakeClock()
    for seed in range(20):
        clock.sleeps.clear()
        async with client_for(
            handler,
            clock,
            rng=random.Random(seed),
            max_attempts=7,
            backoff_max_s=2.0,
            breaker_failure_threshold=1000,
        ) as client:
            with pytest.raises(ProviderUnavailableError) as info:
                await client.get_json("x")
        assert isinstance(info.value.__cause__, UpstreamServerError)
        assert len(clock.sleeps) == 6
        for n, wait in enumerate(clock.sleeps, start=1):
            assert 0.0 <= wait <= min(2.0, 0.2 * 2 ** (n - 1))


async def test_retry_after_is_honoured_on_429_and_does_not_open_the_breaker() -> None:
    """A 429 with Retry-After: 3 waits 3 s; a date form works too; 429s never open the breaker."""
    date = format_datetime(datetime.now(UTC) + timedelta(seconds=6), usegmt=True)
    answers: list[httpx.Response] = [
        httpx.Response(429, headers={"Retry-After": "3"}, json={}),
        httpx.Response(429, headers={"Retry-After": date}, json={}),
        httpx.Response(429, headers={"Retry-After": "30"}, json={}),
        httpx.Response(200, json={"done": True}),
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        return answers.pop(0)

    clock = FakeClock()
    async with client_for(
        handler, clock, urls=("http://only.test",), breaker_failure_threshold=1, backoff_max_s=10.0
    ) as client:
        assert await client.get_json("x") == {"done": True}
        assert client.snapshot()[0].breaker_state is BreakerState.CLOSED
    assert clock.sleeps[0] == 3.0
    assert 4.0 < clock.sleeps[1] <= 6.0
    assert clock.sleeps[2] == 30.0  # what the provider asked, not backoff_max: less earns another 429


async def test_429s_with_retry_after_do_not_use_up_attempts() -> None:
    """Five 429s with Retry-After, then a 500, then 200: succeeds with max_attempts=2."""
    answers: list[httpx.Response] = [
        *(httpx.Response(429, headers={"Retry-After": "1"}, json={}) for _ in range(5)),
        httpx.Response(500, json={}),
        httpx.Response(200, json={"done": True}),
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        return answers.pop(0)

    clock = FakeClock()
    async with client_for(handler, clock, urls=("http://only.test",), max_attempts=2) as client:
        assert await client.get_json("x") == {"done": True}
    assert clock.sleeps[:5] == [1.0] * 5
    assert len(clock.sleeps) == 6


async def test_waits_are_bounded_by_the_call_deadline() -> None:
    """A Retry-After past the deadline fails at once with the reason, without sleeping."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": "600"}, json={})

    clock = FakeClock()
    async with client_for(handler, clock, urls=("http://only.test",), deadline_s=120.0) as client:
        with pytest.raises(ProviderUnavailableError) as info:
            await client.get_json("x")
    assert str(info.value) == (
        "solana: gave up: waiting 600.0 s more would pass the 120 s deadline "
        "(WALLETSYNC_PROVIDER_DEADLINE): HTTP 429 rate limited"
    )
    assert clock.sleeps == []


async def test_non_idempotent_post_is_not_retried_after_a_read_timeout() -> None:
    """The request may have been processed: the timeout surfaces after exactly one attempt."""
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        raise httpx.ReadTimeout("timed out", request=request)

    async with client_for(handler, FakeClock()) as client:
        with pytest.raises(ProviderTimeoutError):
            await client.post_json("", body={"method": "sendTransaction"}, idempotent=False)
    assert calls == 1


async def test_idempotent_post_is_retried_after_a_read_timeout() -> None:
    """Read timeouts are retryable for idempotent calls."""
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise httpx.ReadTimeout("timed out", request=request)
        return httpx.Response(200, json={"result": 1})

    async with client_for(handler, FakeClock()) as client:
        assert await client.post_json("", body={"method": "getSlot"}) == {"result": 1}
    assert calls == 2


@pytest.mark.parametrize(
    ("first", "retried"),
    [
        ("connect_error", True),  # never reached the server
        ("connect_timeout", True),
        ("429", True),  # refused before processing
        ("503", False),  # may have been processed
        ("read_error", False),
    ],
)
async def test_non_idempotent_post_is_retried_only_when_it_cannot_have_been_processed(
    first: str, retried: bool
) -> None:
    """Connect failures and 429 are safe to retry for a non-idempotent call; anything after sending is not."""
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls > 1:
            return httpx.Response(200, json={"result": "sig"})
        if first == "connect_error":
            raise httpx.ConnectError("refused", request=request)
        if first == "connect_timeout":
            raise httpx.ConnectTimeout("slow", request=request)
        if first == "read_error":
            raise httpx.ReadError("reset", request=request)
        return httpx.Response(int(first), json={})

    async with client_for(handler, FakeClock()) as client:
        if retried:
            assert await client.post_json("", body={}, idempotent=False) == {"result": "sig"}
        else:
            with pytest.raises(ProviderError) as info:
                await client.post_json("", body={}, idempotent=False)
            assert info.value.retryable
    assert calls == (2 if retried else 1)


async def test_rotation_away_from_a_down_endpoint() -> None:
    """One URL down: every call still succeeds, the rotation is logged, and its breaker opens."""
    hits = {"a.test": 0, "b.test": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        hits[request.url.host] += 1
        if request.url.host == "a.test":
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(200, json={"ok": True})

    clock = FakeClock()
    with structlog.testing.capture_logs() as logs:
        async with client_for(handler, clock, rng=random.Random(0), breaker_failure_threshold=3) as client:
            for _ in range(30):
                assert await client.get_json("x") == {"ok": True}
            states = {s.url: s for s in client.snapshot()}
    assert hits["b.test"] == 30
    assert hits["a.test"] == 3  # then its breaker is open for the 30 s cool-down
    assert states[display_name("http://a.test")].breaker_state is BreakerState.OPEN
    assert states[display_name("http://a.test")].last_error is not None
    assert "connection" in states[display_name("http://a.test")].last_error
    assert states[display_name("http://b.test")].breaker_state is BreakerState.CLOSED
    rotations = [e for e in logs if e["event"] == "provider.endpoint.rotated"]
    assert len(rotations) == 3
    assert rotations[0]["from_endpoint"] == display_name("http://a.test")
    assert rotations[0]["to_endpoint"] == display_name("http://b.test")


async def test_breaker_cycle_through_the_client_and_on_change_hook() -> None:
    """Failures open the breaker (calls then fail fast), the cool-down allows a probe, success closes it."""
    healthy = False
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(200 if healthy else 502, json={})

    changes: list[EndpointState] = []

    async def on_change(state: EndpointState) -> None:
        changes.append(state)

    clock = FakeClock()
    async with client_for(
        handler,
        clock,
        urls=("http://only.test",),
        max_attempts=1,
        breaker_failure_threshold=2,
        breaker_cooldown_s=30.0,
        backoff_max_s=5.0,
        on_change=on_change,
    ) as client:
        for _ in range(2):
            with pytest.raises(ProviderUnavailableError):
                await client.get_json("x")
        with pytest.raises(ProviderUnavailableError, match="circuit breaker is open"):
            await client.get_json("x")
        assert calls == 2  # the third call never reached the endpoint
        assert (
            sample(
                "walletsync_provider_breaker_state",
                provider="solana",
                endpoint=display_name("http://only.test"),
            )
            == 2
        )
        await client.flush_state()
        assert changes[-1].breaker_state is BreakerState.OPEN
        assert changes[-1].consecutive_failures == 2
        assert changes[-1].opened_at is not None
        assert changes[-1].url == display_name("http://only.test")
        clock.advance(30.0)
        healthy = True
        assert await client.get_json("x") == {}
        await client.flush_state()
        assert client.snapshot()[0].breaker_state is BreakerState.CLOSED
        assert (
            sample(
                "walletsync_provider_breaker_state",
                provider="solana",
                endpoint=display_name("http://only.test"),
            )
            == 0
        )
    assert [c.breaker_state for c in changes] == [BreakerState.OPEN, BreakerState.CLOSED]
    assert changes[-1].opened_at is None


async def test_failed_probe_reopens_through_the_client() -> None:
    """Half-open probe fails: the breaker is open again and the next call fails fast."""
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(500, json={})

    clock = FakeClock()
    async with client_for(
        handler,
        clock,
        urls=("http://only.test",),
        max_attempts=1,
        breaker_failure_threshold=1,
        backoff_max_s=1.0,
    ) as client:
        with pytest.raises(ProviderUnavailableError):
            await client.get_json("x")
        clock.advance(30.0)
        with pytest.raises(ProviderUnavailableError, match="gave up"):
            await client.get_json("x")  # the probe
        with pytest.raises(ProviderUnavailableError, match="circuit breaker is open"):
            await client.get_json("x")
        assert client.snapshot()[0].breaker_state is BreakerState.OPEN
    assert calls == 2


async def test_all_open_waits_for_a_cooldown_within_budget() -> None:
    """When every breaker is open but one half-opens within backoff_max, the call waits and probes."""
    failing = True

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500 if failing else 200, json={"ok": not failing})

    clock = FakeClock()
    async with client_for(
        handler,
        clock,
        urls=("http://only.test",),
        max_attempts=1,
        breaker_failure_threshold=1,
        breaker_cooldown_s=4.0,
        backoff_max_s=5.0,
    ) as client:
        with pytest.raises(ProviderUnavailableError):
            await client.get_json("x")
        failing = False
        clock.advance(1.5)
        assert await client.get_json("x") == {"ok": True}
    assert clock.sleeps == pytest.approx([2.5])


async def test_client_errors_do_not_count_against_the_endpoint() -> None:
    """404s are not retried and do not open the breaker, however many."""
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(404, json={"message": "not found"})

    async with client_for(
        handler, FakeClock(), urls=("http://only.test",), breaker_failure_threshold=2
    ) as client:
        for _ in range(5):
            with pytest.raises(UpstreamNotFoundError):
                await client.get_json("txs/x")
        assert client.snapshot()[0].breaker_state is BreakerState.CLOSED
        assert client.snapshot()[0].consecutive_failures == 0
    assert calls == 5


async def test_malformed_body_is_retried_and_counts_as_failure() -> None:
    """An HTML 200 is a malformed response: retried, and a failure for the breaker."""
    answers = [httpx.Response(200, text="<html>gateway</html>"), httpx.Response(200, json={"ok": 1})]

    def handler(request: httpx.Request) -> httpx.Response:
        return answers.pop(0)

    async with client_for(handler, FakeClock(), urls=("http://only.test",)) as client:
        assert await client.get_json("x") == {"ok": 1}


async def test_adapter_classifier_decides_on_200_bodies() -> None:
    """A Twelve-Data-style error in an HTTP 200 body is what the adapter's classifier says it is."""

    def classify(status: int, body: Any, headers: Any) -> ProviderError | None:
        if isinstance(body, dict) and body.get("status") == "error":
            if body.get("code") == 429:
                return RateLimitedError(body["message"], retry_after_s=1.0)
            return UpstreamNotFoundError(body["message"])
        return None

    answers = [
        {"status": "error", "code": 429, "message": "credits used"},
        {"status": "ok", "values": []},
        {"status": "error", "code": 404, "message": "**symbol** not found"},
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=answers.pop(0))

    clock = FakeClock()
    async with client_for(handler, clock, classify=classify) as client:
        assert await client.get_json("time_series") == {"status": "ok", "values": []}
        with pytest.raises(UpstreamNotFoundError, match="symbol"):
            await client.get_json("time_series")
    assert clock.sleeps == [1.0]


async def test_exhausted_retries_raise_unavailable_with_the_cause() -> None:
    """After max_attempts the call raises ProviderUnavailableError chained to the last error."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="not json")

    async with client_for(handler, FakeClock(), max_attempts=3, breaker_failure_threshold=100) as client:
        with pytest.raises(ProviderUnavailableError, match="gave up after 3 attempts") as info:
            await client.get_json("x")
    assert isinstance(info.value.__cause__, MalformedResponseError)


async def test_metadata_cache_ttl_with_injected_clock() -> None:
    """cache_ttl_s serves repeats from memory until the TTL passes on the clock, then asks again."""
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(200, json={"decimals": 6, "n": calls})

    clock = FakeClock()
    hits_before = sample("walletsync_provider_cache_total", provider="solana", result="hit")
    async with client_for(handler, clock) as client:
        first = await client.get_json("mint/M", cache_ttl_s=60)
        clock.advance(59.0)
        again = await client.get_json("mint/M", cache_ttl_s=60)
        other = await client.get_json("mint/N", cache_ttl_s=60)
        clock.advance(1.0)
        expired = await client.get_json("mint/M", cache_ttl_s=60)
        uncached = await client.get_json("mint/M")
    assert first == again == {"decimals": 6, "n": 1}
    assert other["n"] == 2
    assert expired["n"] == 3
    assert uncached["n"] == 4
    assert calls == 4
    assert sample("walletsync_provider_cache_total", provider="solana", result="hit") - hits_before == 1


async def test_metrics_count_attempts_errors_and_waits() -> None:
    """One failed then one good attempt: counters by outcome and kind, latency and rate-limit wait observed."""
    answers = [503, 200]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(answers.pop(0), json={})

    labels = {"provider": "solana", "endpoint": display_name("http://metrics.test")}
    ok0 = sample("walletsync_provider_requests_total", **labels, outcome="ok")
    bad0 = sample("walletsync_provider_requests_total", **labels, outcome="server_error")
    kind0 = sample("walletsync_provider_errors_total", provider="solana", kind="upstream_server")
    lat0 = sample("walletsync_provider_request_seconds_count", **labels)
    wait0 = sample("walletsync_provider_ratelimit_wait_seconds_count", provider="solana")
    retry0 = sample("walletsync_provider_retries_total", provider="solana", kind="upstream_server")
    async with client_for(handler, FakeClock(), urls=("http://metrics.test",)) as client:
        await client.get_json("x")
    assert sample("walletsync_provider_requests_total", **labels, outcome="ok") - ok0 == 1
    assert sample("walletsync_provider_requests_total", **labels, outcome="server_error") - bad0 == 1
    assert sample("walletsync_provider_errors_total", provider="solana", kind="upstream_server") - kind0 == 1
    assert sample("walletsync_provider_request_seconds_count", **labels) - lat0 == 2
    assert sample("walletsync_provider_ratelimit_wait_seconds_count", provider="solana") - wait0 == 2
    assert (
        sample("walletsync_provider_retries_total", provider="solana", kind="upstream_server") - retry0 == 1
    )


async def test_rate_limit_paces_calls_by_cost() -> None:
    """The client takes `cost` tokens per call: with burst 2 (1 effective) at 10/s, costs wait their share."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={})

    clock = FakeClock()
    async with client_for(handler, clock, rate=10.0, burst=3) as client:
        await client.post_json("", body=[{}, {}], cost=2)  # effective burst 2: free
        await client.get_json("x")
        await client.post_json("", body=[{}, {}], cost=2)
        with pytest.raises(ValueError, match="cost"):
            await client.get_json("x", cost=0)
    interval = 1 / (10.0 * 0.97)
    assert clock.sleeps == pytest.approx([interval, 2 * interval])


async def test_concurrency_is_capped() -> None:
    """No more than max_concurrency requests are in flight at once."""
    in_flight = 0
    peak = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        for _ in range(5):
            await asyncio.sleep(0)
        in_flight -= 1
        return httpx.Response(200, json={})

    client = ResilientClient(
        make_config(max_concurrency=3), transport=httpx.MockTransport(handler), rng=random.Random(1)
    )
    async with client:
        await asyncio.gather(*(client.get_json("x") for _ in range(20)))
    assert peak == 3


async def test_logs_carry_no_api_key() -> None:
    """Keys in headers, params, URLs and even in error text never reach a log event."""
    key = "sk-live-9f8e7d6c5b4a"

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "a.test":
            raise httpx.ConnectError(f"cannot reach {request.url}", request=request)
        if request.url.path.endswith("/bad"):
            return httpx.Response(403, json={"message": f"key {key} is invalid"})
        return httpx.Response(500, json={"message": f"internal error for {key}"})

    clock = FakeClock()
    with structlog.testing.capture_logs() as logs:
        async with client_for(
            handler,
            clock,
            urls=(f"http://a.test/?api-key={key}", f"http://b.test/v1?token={key}"),
            api_key=key,
            headers={"Authorization": f"apikey {key}"},
            params={"apikey": key},
            max_attempts=3,
            breaker_failure_threshold=1,
        ) as client:
            with pytest.raises(ProviderError):
                await client.get_json("addresses/addr1qxyzxyzxyzxyzxyzxyzxyzxyz/transactions")
            clock.advance(60)
            with pytest.raises(ProviderError):
                await client.get_json("bad")
            snapshot = repr(client.snapshot())
    requests = [e for e in logs if e["event"] == "provider.request"]
    assert requests, "every attempt is logged"
    assert {e["path"] for e in requests} >= {"addresses/{id}/transactions"}
    names = {display_name(f"http://a.test/?api-key={key}"), display_name(f"http://b.test/v1?token={key}")}
    assert all(e["endpoint"] in names for e in requests)
    assert key not in repr(logs)
    assert key not in snapshot


def test_path_template_hides_identifiers() -> None:
    """Numbers, addresses and hashes become {id}; short words stay."""
    assert path_template("txs/9f86d081884c7d659a2feaa0c55ad015/utxos") == "txs/{id}/utxos"
    assert path_template("/blocks/12345") == "/blocks/{id}"
    assert path_template("time_series?symbol=X") == "time_series"
