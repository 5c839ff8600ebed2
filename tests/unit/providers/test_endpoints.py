"""The endpoint pool: weighted choice, avoidance, probes, standby endpoints, public URLs and labels."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from tests.unit.providers.client_fakes import FakeClock
from walletsync.providers.breaker import BreakerState
from walletsync.providers.endpoints import Endpoint, EndpointPool, EndpointState, display_name, url_secrets

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def pool(urls: list[str], states: Sequence[EndpointState] = (), seed: int = 1) -> EndpointPool:
    return EndpointPool(
        "solana",
        urls,
        threshold=3,
        cooldown_s=30.0,
        clock=FakeClock(),
        now=lambda: NOW,
        rng=random.Random(seed),
        initial_states=states,
    )


def label(picked: tuple[Endpoint, bool] | None) -> str:
    assert picked is not None
    return picked[0].host


def test_weighted_choice_follows_weights() -> None:
    """Weights 3:1 give about three quarters of the picks to the heavier endpoint."""
    endpoints = pool(
        ["http://a.test", "http://b.test"],
        [
            EndpointState("solana", display_name("http://a.test"), weight=3),
            EndpointState("solana", display_name("http://b.test"), weight=1),
        ],
    )
    picks = Counter(label(endpoints.pick()) for _ in range(4000))
    assert 0.70 < picks["a.test"] / 4000 < 0.80


def test_avoided_endpoints_are_used_only_when_nothing_else_is_usable() -> None:
    """A retry goes to an endpoint the call has not failed on; with all tried, any usable one."""
    endpoints = pool(["http://a.test", "http://b.test"])
    assert {label(endpoints.pick({"http://a.test"})) for _ in range(50)} == {"b.test"}
    both = {label(endpoints.pick({"http://a.test", "http://b.test"})) for _ in range(50)}
    assert both == {"a.test", "b.test"}


def test_weight_zero_is_a_standby() -> None:
    """A weight-0 endpoint is picked only when no weighted endpoint is usable."""
    endpoints = pool(
        ["http://a.test", "http://spare.test"],
        [EndpointState("solana", display_name("http://spare.test"), weight=0)],
    )
    assert {label(endpoints.pick()) for _ in range(50)} == {"a.test"}
    assert label(endpoints.pick({"http://a.test"})) == "spare.test"


def test_retries_leave_half_open_probes_to_fresh_calls() -> None:
    """With one endpoint cooled down (probe due) and one closed, a retry always takes the closed one."""
    opened = NOW - timedelta(seconds=60)
    endpoints = pool(
        ["http://a.test", "http://b.test"],
        [
            EndpointState(
                "solana", display_name("http://a.test"), breaker_state=BreakerState.OPEN, opened_at=opened
            )
        ],
    )
    assert {label(endpoints.pick(probe=False)) for _ in range(50)} == {"b.test"}
    probes = [endpoints.pick(probe=True) for _ in range(50)]
    assert ("a.test", True) in {(e.host, probe) for e, probe in probes if e is not None}


def test_nothing_usable_reports_when_something_will_be() -> None:
    """All open: pick gives None and next_usable_in the shortest remaining cool-down."""
    endpoints = pool(
        ["http://a.test", "http://b.test"],
        [
            EndpointState(
                "solana", display_name("http://a.test"), breaker_state=BreakerState.OPEN, opened_at=NOW
            ),
            EndpointState(
                "solana",
                display_name("http://b.test"),
                breaker_state=BreakerState.OPEN,
                opened_at=NOW - timedelta(seconds=20),
            ),
        ],
    )
    assert endpoints.pick() is None
    assert endpoints.next_usable_in() == 10.0


def test_display_name_and_secrets() -> None:
    """The display name is host[:port] and a hash; path, query values and password are known secrets."""
    url = "https://user:pw@rpc.example.com/v1/?api-key=abc123#x"
    assert display_name(url) == "rpc.example.com#" + display_name(url).split("#")[1]
    assert len(display_name(url).split("#")[1]) == 6
    assert set(url_secrets(url)) == {"abc123", "pw", "/v1"}


def test_names_tell_endpoints_on_one_host_apart() -> None:
    """Names are host[:port]#hash; endpoints on one host differ by the hash, never by their path."""
    endpoints = pool(
        ["http://127.0.0.1:9000/e0/solana", "http://127.0.0.1:9000/e1/solana", "https://rpc.test"]
    )
    names = [e.name for e in endpoints.endpoints]
    assert [n.split("#")[0] for n in names] == ["127.0.0.1:9000", "127.0.0.1:9000", "rpc.test"]
    assert len(set(names)) == 3
    assert not any("solana" in n for n in names)
