"""Prometheus metrics of the provider layer (registered once per process in the default registry).

Labels are bounded: `provider` is one of our provider names, `endpoint` is the host of a configured
URL, `outcome` and `kind` come from fixed sets. Never an address, path or key.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter(
    "walletsync_provider_requests",
    "Provider HTTP attempts by outcome (ok, client_error, rate_limited, server_error, timeout, "
    "connection_error, malformed).",
    ["provider", "endpoint", "outcome"],
)
ERRORS = Counter(
    "walletsync_provider_errors",
    "Failed provider attempts by error kind (rate_limited, upstream_server, provider_timeout, ...).",
    ["provider", "kind"],
)
REQUEST_SECONDS = Histogram(
    "walletsync_provider_request_seconds",
    "Latency of one provider HTTP attempt (after rate limiting).",
    ["provider", "endpoint"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
BREAKER_STATE = Gauge(
    "walletsync_provider_breaker_state",
    "Circuit breaker state per endpoint: 0 closed, 1 half-open, 2 open.",
    ["provider", "endpoint"],
)
RATELIMIT_WAIT_SECONDS = Histogram(
    "walletsync_provider_ratelimit_wait_seconds",
    "Time a provider call waited for rate-limit tokens.",
    ["provider"],
    buckets=(0.0, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0),
)
RETRIES = Counter(
    "walletsync_provider_retries",
    "Provider attempts that were retried, by error kind.",
    ["provider", "kind"],
)
CACHE = Counter(
    "walletsync_provider_cache",
    "Metadata cache lookups of provider calls by result (hit, miss).",
    ["provider", "result"],
)
