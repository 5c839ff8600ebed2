"""Fault injection and rate-limit enforcement for the simulator, per provider and per endpoint index.

`FaultConfig` (pydantic, so `POST /_admin/faults` can replace it as JSON) says what goes wrong:
latency (fixed or uniform), 5xx, hangs longer than any client timeout, malformed 200 bodies, faults
inside well-formed bodies (`body_faults`: failed batch items, amounts of the wrong type), outage
windows of an endpoint index, and a token bucket per provider. `FaultInjector` turns each arriving
request into a `Decision` with a seeded RNG and counts what it did.

The token bucket is hand-written (rather than `limits`) because the simulator must report the exact
wait in Retry-After, must not charge a rejected request, must charge a JSON-RPC batch per call, and
must run on an injectable clock so tests need no sleeps.
"""

from __future__ import annotations

import json
import math
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from walletsync.simulator import body_faults
from walletsync.simulator.wire import dumps

PROVIDERS = ("solana", "blockfrost", "twelvedata")

Clock = Callable[[], float]


class RateLimit(BaseModel):
    """A token bucket: `rate` tokens per second, at most `burst` saved up."""

    model_config = ConfigDict(extra="forbid")

    rate: float = Field(gt=0)
    burst: int = Field(ge=1)


class FaultRule(BaseModel):
    """What happens to requests of one provider (or one endpoint of it)."""

    model_config = ConfigDict(extra="forbid")

    latency_ms: float | tuple[float, float] = 0.0  # fixed, or (min, max) uniform
    fail_rate: float = Field(default=0.0, ge=0, le=1)  # provider's 5xx response
    timeout_rate: float = Field(default=0.0, ge=0, le=1)  # hang `hang_s`, then drop the connection
    malformed_rate: float = Field(default=0.0, ge=0, le=1)  # HTTP 200, truncated JSON or an HTML page
    hang_s: float = Field(default=30.0, ge=0)
    # Inside a well-formed 200 body (`body_faults`), after the request-level faults above:
    wrong_type_rate: float = Field(default=0.0, ge=0, le=1)  # one amount of the wrong JSON type
    item_error_rate: float = Field(default=0.0, ge=0, le=1)  # per getTransaction call: -32005 error
    item_null_rate: float = Field(default=0.0, ge=0, le=1)  # per getTransaction call: result null
    missing_signatures: list[str] = Field(default_factory=list)  # getTransaction null, always

    @property
    def touches_body(self) -> bool:
        return bool(
            self.wrong_type_rate or self.item_error_rate or self.item_null_rate or self.missing_signatures
        )


class Outage(BaseModel):
    """An endpoint down for [start_s, end_s) seconds since server start (end_s None: for good)."""

    model_config = ConfigDict(extra="forbid")

    provider: str | None = None  # None: every provider
    endpoint: int | None = None  # None: every endpoint index
    start_s: float = 0.0
    end_s: float | None = None
    mode: Literal["close", "503"] = "503"  # drop the connection, or answer 503

    def covers(self, provider: str, endpoint: int, elapsed_s: float) -> bool:
        return (
            (self.provider is None or self.provider == provider)
            and (self.endpoint is None or self.endpoint == endpoint)
            and elapsed_s >= self.start_s
            and (self.end_s is None or elapsed_s < self.end_s)
        )


class FaultConfig(BaseModel):
    """The whole fault setup of a simulator run.

    Rule lookup for a request: `endpoints["<provider>/<index>"]`, else `providers[<provider>]`, else
    `default` (whole rules, not merged).
    """

    model_config = ConfigDict(extra="forbid")

    seed: int = 0
    default: FaultRule = Field(default_factory=FaultRule)
    providers: dict[str, FaultRule] = Field(default_factory=dict)
    endpoints: dict[str, FaultRule] = Field(default_factory=dict)
    outages: list[Outage] = Field(default_factory=list)
    rate_limits: dict[str, RateLimit] = Field(default_factory=dict)
    batch_cost_per_call: bool = True  # a JSON-RPC batch of N calls costs N tokens (else 1)

    def rule(self, provider: str, endpoint: int) -> FaultRule:
        return self.endpoints.get(f"{provider}/{endpoint}") or self.providers.get(provider) or self.default


class TokenBucket:
    """Tokens refill continuously at `rate`/s up to `burst`; checked at request arrival."""

    def __init__(self, rate: float, burst: int, clock: Clock) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.tokens = float(burst)
        self.updated = clock()

    def take(self, cost: int) -> float:
        """Charge `cost` tokens and return 0.0, or return the seconds until it would fit (no charge).

        A request costing more than `burst` waits for a full bucket and then runs the bucket into
        debt, so an oversized batch is slow, never impossible.
        """
        now = self.clock()
        self.tokens = min(float(self.burst), self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        need = min(cost, self.burst)
        if self.tokens >= need:
            self.tokens -= cost
            return 0.0
        return (need - self.tokens) / self.rate

    def refill(self) -> None:
        self.tokens = float(self.burst)
        self.updated = self.clock()


class Decision(NamedTuple):
    kind: Literal["ok", "rate_limited", "outage", "server_error", "timeout", "malformed"]
    latency_s: float = 0.0
    retry_after_s: int = 0
    status: int = 0  # server_error / outage(503) status
    variant: str = ""  # outage: close|503; malformed: truncated|html
    hang_s: float = 0.0


class FaultInjector:
    """Decides the fate of each request and keeps the counters `GET /_admin/stats` reports.

    Thread-safe: the server's event loop calls it, tests may read stats from another thread.
    """

    def __init__(self, config: FaultConfig | None = None, *, clock: Clock = time.monotonic) -> None:
        self.clock = clock
        self.started = clock()
        self._lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()  # requests weighted by cost (a JSON-RPC batch of N: N)
        self.endpoint_requests: Counter[str] = Counter()
        self.violations: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.config = FaultConfig()
        self.buckets: dict[str, TokenBucket] = {}
        self.rng = random.Random(0)
        self.set_config(config or FaultConfig())

    def set_config(self, config: FaultConfig) -> None:
        """Replace the configuration: new buckets (full), RNG reseeded; counters are kept."""
        with self._lock:
            self.config = config
            self.rng = random.Random(config.seed)
            self.buckets = {
                p: TokenBucket(r.rate, r.burst, self.clock) for p, r in config.rate_limits.items()
            }

    def reset(self) -> None:
        """Zero the counters and refill the buckets."""
        with self._lock:
            self.requests.clear()
            self.calls.clear()
            self.endpoint_requests.clear()
            self.violations.clear()
            self.faults.clear()
            for bucket in self.buckets.values():
                bucket.refill()

    def elapsed(self) -> float:
        return self.clock() - self.started

    def decide(self, provider: str, endpoint: int, cost: int = 1) -> Decision:
        """The fate of one request arriving now."""
        with self._lock:
            config = self.config
            self.requests[provider] += 1
            self.calls[provider] += cost
            self.endpoint_requests[f"{provider}/{endpoint}"] += 1
            elapsed = self.clock() - self.started
            for outage in config.outages:
                if outage.covers(provider, endpoint, elapsed):
                    self.faults["outage"] += 1
                    return Decision("outage", status=503, variant=outage.mode)
            bucket = self.buckets.get(provider)
            if bucket is not None:
                wait = bucket.take(cost if config.batch_cost_per_call else 1)
                if wait > 0:
                    self.violations[provider] += 1
                    return Decision("rate_limited", retry_after_s=max(1, math.ceil(wait)))
            rule = config.rule(provider, endpoint)
            latency = rule.latency_ms
            if isinstance(latency, tuple):
                latency_s = self.rng.uniform(latency[0], latency[1]) / 1000
            else:
                latency_s = latency / 1000
            roll = self.rng.random()
            if roll < rule.timeout_rate:
                self.faults["timeout"] += 1
                return Decision("timeout", latency_s, hang_s=rule.hang_s)
            roll -= rule.timeout_rate
            if roll < rule.fail_rate:
                self.faults["server_error"] += 1
                status = self.rng.choice((500, 503)) if provider == "solana" else 500
                return Decision("server_error", latency_s, status=status)
            roll -= rule.fail_rate
            if roll < rule.malformed_rate:
                self.faults["malformed"] += 1
                return Decision("malformed", latency_s, variant=self.rng.choice(("truncated", "html")))
            return Decision("ok", latency_s)

    def rewrite(self, provider: str, endpoint: int, request_body: Any, body: bytes) -> bytes:
        """`body` (a 200 answer) with the rule's in-body faults applied; unchanged when it has none."""
        with self._lock:
            rule = self.config.rule(provider, endpoint)
            if not rule.touches_body:
                return body
            parsed = json.loads(body)
            changed = False
            if provider == "solana" and (
                rule.item_error_rate or rule.item_null_rate or rule.missing_signatures
            ):
                parsed, failed = body_faults.rpc_items(
                    request_body,
                    parsed,
                    error_rate=rule.item_error_rate,
                    null_rate=rule.item_null_rate,
                    missing=frozenset(rule.missing_signatures),
                    rng=self.rng,
                )
                self.faults["item"] += failed
                changed = bool(failed)
            wrong = rule.wrong_type_rate and self.rng.random() < rule.wrong_type_rate
            if wrong and body_faults.wrong_type(provider, parsed, self.rng):
                self.faults["wrong_type"] += 1
                changed = True
            return dumps(parsed) if changed else body

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": {p: self.requests[p] for p in PROVIDERS},
                "calls": {p: self.calls[p] for p in PROVIDERS},
                "violations": {p: self.violations[p] for p in PROVIDERS},
                "faults": {
                    k: self.faults[k]
                    for k in ("outage", "timeout", "server_error", "malformed", "item", "wrong_type")
                },
                "endpoints": dict(self.endpoint_requests),
                "uptime_s": round(self.clock() - self.started, 3),
                "config": self.config.model_dump(mode="json"),
            }
