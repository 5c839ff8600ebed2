"""Redis and cache settings: the shared Redis URL, cache TTLs, the in-process first level and the key
namespace (see `walletsync/cache.py`).
"""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator

from walletsync.config.fields import alias, empty_is_unset


class CacheSettings(BaseModel):
    """`REDIS_URL` and `WALLETSYNC_CACHE*`."""

    redis_url: str | None = Field(default=None, validation_alias=alias("WALLETSYNC_REDIS_URL", "REDIS_URL"))
    cache_enabled: bool = Field(default=True, validation_alias=alias("WALLETSYNC_CACHE"))
    cache_ttl_balances_s: int = Field(
        default=30, ge=1, validation_alias=alias("WALLETSYNC_CACHE_TTL_BALANCES")
    )
    cache_ttl_leaderboard_s: int = Field(
        default=60, ge=1, validation_alias=alias("WALLETSYNC_CACHE_TTL_LEADERBOARD")
    )
    cache_ttl_prices_s: int = Field(default=60, ge=1, validation_alias=alias("WALLETSYNC_CACHE_TTL_PRICES"))
    # Memory per process for the first cache level in front of Redis (cache_local.py); 0 turns it off.
    cache_local_mb: int = Field(
        default=64, ge=0, le=65536, validation_alias=alias("WALLETSYNC_CACHE_LOCAL_MB")
    )
    # Prefix of every cache and rate-limit key, so deployments (or test runs) can share one Redis.
    cache_namespace: str = Field(
        default="walletsync",
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        validation_alias=alias("WALLETSYNC_CACHE_NAMESPACE"),
    )

    @field_validator("redis_url", mode="before")
    @classmethod
    def _redis_empty_is_unset(cls, value: object) -> object:
        return empty_is_unset(value)

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        return value
