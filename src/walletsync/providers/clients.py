"""`build_provider_clients`: one `ResilientClient` per configured provider, built and closed together.

Only providers with URLs get a client. With a Redis URL, every client's token bucket lives in Redis
(one connection pool shared by the clients) so all workers together stay under each provider's limit;
without one, each process limits itself. Default authentication: Blockfrost's `project_id` header,
Twelve Data's `Authorization: apikey ...` header (a header, not the `apikey` query parameter, so the
key never appears in a URL).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Literal, Self

import httpx
from redis.asyncio import Redis

from walletsync.config import ProviderConfig, Settings
from walletsync.errors import ConfigError
from walletsync.providers.classify import default_classifier
from walletsync.providers.endpoints import EndpointState
from walletsync.providers.http import OnChange, ResilientClient, Sleep
from walletsync.providers.ratelimit import SHARED_JITTER_S, RateLimiter, RedisTokenBucket, bucket_key
from walletsync.providers.stats import ProviderStats
from walletsync.providers.types import ErrorClassifier

ProviderName = Literal["solana", "blockfrost", "twelvedata"]
PROVIDERS: tuple[ProviderName, ...] = ("solana", "blockfrost", "twelvedata")

REDIS_TIMEOUT_S = 0.5  # a rate-limit check must never hang a request: fall back instead


@dataclass
class ProviderClients:
    """The clients of the configured providers (None where a provider has no URL)."""

    solana: ResilientClient | None = None
    blockfrost: ResilientClient | None = None
    twelvedata: ResilientClient | None = None
    _redis: Redis | None = field(default=None, repr=False)

    def all(self) -> dict[str, ResilientClient]:
        pairs = (("solana", self.solana), ("blockfrost", self.blockfrost), ("twelvedata", self.twelvedata))
        return {name: client for name, client in pairs if client is not None}

    def get(self, name: ProviderName) -> ResilientClient:
        """The client of `name`, or `ConfigError` when that provider has no URL configured."""
        client = self.all().get(name)
        if client is None:
            raise ConfigError(f"provider {name!r} has no URL configured")
        return client

    def snapshot(self) -> dict[str, list[EndpointState]]:
        return {name: client.snapshot() for name, client in self.all().items()}

    async def aclose(self) -> None:
        results = await asyncio.gather(
            *(client.aclose() for client in self.all().values()), return_exceptions=True
        )
        if self._redis is not None:
            await self._redis.aclose()
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


def default_auth(config: ProviderConfig) -> dict[str, str]:
    """The headers that authenticate calls to `config`'s provider (none when it has no key)."""
    if not config.api_key:
        return {}
    if config.name == "blockfrost":
        return {"project_id": config.api_key}
    if config.name == "twelvedata":
        return {"Authorization": f"apikey {config.api_key}"}
    return {}


def build_provider_clients(
    settings: Settings,
    *,
    redis_url: str | None = None,
    classifiers: Mapping[str, ErrorClassifier] | None = None,
    initial_states: Mapping[str, Sequence[EndpointState]] | None = None,
    on_change: OnChange | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Sleep = asyncio.sleep,
    shares: Callable[[], int] = lambda: 1,
    stats: ProviderStats | None = None,
) -> ProviderClients:
    """Clients for every provider with URLs in `settings`.

    `classifiers` maps a provider name to its adapter's `classify_error` (default: `default_classifier`);
    `initial_states`/`on_change` carry endpoint health to and from storage (see `db.provider_endpoints`);
    `redis_url` (usually `settings.redis_url`) shares the rate limits between processes; `shares()`
    is how many processes share them (each one's fallback share while Redis is down); `stats` counts
    every client's attempts for the shared statistics (`db.provider_stats`).
    """
    redis = (
        Redis.from_url(redis_url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S)
        if redis_url
        else None
    )
    clients = ProviderClients(_redis=redis)
    for name in PROVIDERS:
        config = settings.provider_config(name)
        if not config.urls:
            continue
        limiter: RateLimiter | None = None
        if redis is not None:
            key = bucket_key(name, config.api_key, config.urls, namespace=settings.cache_namespace)
            limiter = RedisTokenBucket(
                redis,
                key,
                config.rate,
                config.burst,
                jitter_s=SHARED_JITTER_S,
                clock=clock,
                sleep=sleep,
                shares=shares,
            )
        client = ResilientClient(
            config,
            classify=(classifiers or {}).get(name, default_classifier),
            rate_limiter=limiter,
            headers=default_auth(config),
            transport=transport,
            clock=clock,
            sleep=sleep,
            initial_states=(initial_states or {}).get(name, ()),
            on_change=on_change,
            stats=stats,
        )
        setattr(clients, name, client)
    return clients
