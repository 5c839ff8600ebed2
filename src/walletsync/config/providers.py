"""Chain and market-data provider settings: the shared resilience knobs (timeouts, retries, breakers,
metadata cache), then Solana JSON-RPC, Blockfrost and Twelve Data endpoints, keys and rates, and the
`ProviderConfig` each resilient client is built from.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from walletsync.config.fields import CommaList, alias, seconds_or_duration, split_commas


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    """What the resilient HTTP client needs to know about one provider."""

    name: str
    urls: tuple[str, ...]
    api_key: str | None
    rate: float  # sustained requests per second
    burst: int  # bucket size
    max_concurrency: int
    timeout_s: float
    max_attempts: int
    backoff_initial_s: float
    backoff_max_s: float
    breaker_failure_threshold: int
    breaker_cooldown_s: float
    metadata_cache_ttl_s: float
    breaker_failure_rate: float = 0.5
    breaker_window_s: float = 60.0
    breaker_min_calls: int = 1
    deadline_s: float = 120.0  # one call, all attempts and waits (429 Retry-After included)


class ProviderSettings(BaseModel):
    """`WALLETSYNC_PROVIDER_*`, `WALLETSYNC_BREAKER_*`, `WALLETSYNC_SOLANA_*`, `WALLETSYNC_BLOCKFROST_*`,
    `WALLETSYNC_CARDANO_*` (safety depth, rollback window), `WALLETSYNC_TWELVEDATA_*`, asset metadata."""

    provider_timeout_s: float = Field(
        default=10.0, gt=0, validation_alias=alias("WALLETSYNC_PROVIDER_TIMEOUT")
    )
    provider_max_attempts: int = Field(
        default=6, ge=1, le=50, validation_alias=alias("WALLETSYNC_PROVIDER_MAX_ATTEMPTS")
    )
    provider_backoff_initial_s: float = Field(
        default=0.2, gt=0, validation_alias=alias("WALLETSYNC_PROVIDER_BACKOFF_INITIAL")
    )
    provider_backoff_max_s: float = Field(
        default=10.0, gt=0, validation_alias=alias("WALLETSYNC_PROVIDER_BACKOFF_MAX")
    )
    # Breakers open on a failure rate over a window (see providers/breaker.py), not on a burst.
    breaker_failure_threshold: int = Field(
        default=5, ge=1, validation_alias=alias("WALLETSYNC_BREAKER_FAILURE_THRESHOLD")
    )
    breaker_failure_rate: float = Field(
        default=0.5, gt=0, le=1, validation_alias=alias("WALLETSYNC_BREAKER_FAILURE_RATE")
    )
    breaker_window_s: float = Field(default=60.0, gt=0, validation_alias=alias("WALLETSYNC_BREAKER_WINDOW"))
    breaker_min_calls: int = Field(default=20, ge=1, validation_alias=alias("WALLETSYNC_BREAKER_MIN_CALLS"))
    provider_deadline_s: float = Field(
        default=120.0, gt=0, validation_alias=alias("WALLETSYNC_PROVIDER_DEADLINE")
    )
    breaker_cooldown_s: float = Field(
        default=30.0, gt=0, validation_alias=alias("WALLETSYNC_BREAKER_COOLDOWN")
    )
    metadata_cache_ttl_s: float = Field(
        default=3600.0, gt=0, validation_alias=alias("WALLETSYNC_METADATA_CACHE_TTL")
    )
    # Token names, symbols and decimals stored in `assets` are re-read from the providers once they
    # are older than this (seconds, or ISO 8601 such as P1D), at most ..._REFRESH_LIMIT assets per
    # hourly run of the `refresh_asset_metadata` job (indexing/asset_refresh.py).
    asset_metadata_ttl: timedelta = Field(
        default=timedelta(days=1),
        gt=timedelta(0),
        validation_alias=alias("WALLETSYNC_ASSET_METADATA_TTL"),
    )
    asset_metadata_refresh_limit: int = Field(
        default=200, ge=1, le=100_000, validation_alias=alias("WALLETSYNC_ASSET_METADATA_REFRESH_LIMIT")
    )

    # --- Solana JSON-RPC ------------------------------------------------------------------
    solana_rpc_urls: CommaList = Field(
        default_factory=list, validation_alias=alias("WALLETSYNC_SOLANA_RPC_URLS", "SOLANA_RPC_URLS")
    )
    solana_commitment: Literal["finalized", "confirmed"] = Field(
        default="finalized", validation_alias=alias("WALLETSYNC_SOLANA_COMMITMENT")
    )
    solana_rate: float = Field(default=10.0, gt=0, validation_alias=alias("WALLETSYNC_SOLANA_RATE"))
    solana_burst: int = Field(default=100, ge=1, validation_alias=alias("WALLETSYNC_SOLANA_BURST"))
    solana_max_concurrency: int = Field(
        default=16, ge=1, validation_alias=alias("WALLETSYNC_SOLANA_MAX_CONCURRENCY")
    )

    # --- Blockfrost (Cardano) -------------------------------------------------------------
    blockfrost_urls: CommaList = Field(
        default_factory=list, validation_alias=alias("WALLETSYNC_BLOCKFROST_URLS", "BLOCKFROST_URLS")
    )
    blockfrost_project_id: str | None = Field(
        default=None, validation_alias=alias("WALLETSYNC_BLOCKFROST_PROJECT_ID")
    )
    blockfrost_rate: float = Field(default=10.0, gt=0, validation_alias=alias("WALLETSYNC_BLOCKFROST_RATE"))
    blockfrost_burst: int = Field(default=500, ge=1, validation_alias=alias("WALLETSYNC_BLOCKFROST_BURST"))
    blockfrost_max_concurrency: int = Field(
        default=100, ge=1, validation_alias=alias("WALLETSYNC_BLOCKFROST_MAX_CONCURRENCY")
    )
    cardano_safety_depth: int = Field(
        default=15, ge=0, validation_alias=alias("WALLETSYNC_CARDANO_SAFETY_DEPTH")
    )
    # Indexed transactions this many blocks below the tip or less are re-checked on every sync and
    # retracted when rolled back. Cardano's security parameter k = 2160 bounds any rollback.
    cardano_rollback_window: int = Field(
        default=2160, ge=0, validation_alias=alias("WALLETSYNC_CARDANO_ROLLBACK_WINDOW")
    )

    # --- Twelve Data ----------------------------------------------------------------------
    twelvedata_urls: CommaList = Field(
        default_factory=list, validation_alias=alias("WALLETSYNC_TWELVEDATA_URLS", "TWELVEDATA_URLS")
    )
    twelvedata_api_key: str | None = Field(
        default=None, validation_alias=alias("WALLETSYNC_TWELVEDATA_API_KEY")
    )
    twelvedata_rate_per_min: float = Field(
        default=8.0, gt=0, validation_alias=alias("WALLETSYNC_TWELVEDATA_RATE_PER_MIN")
    )
    twelvedata_daily_credits: int = Field(
        default=800, ge=1, validation_alias=alias("WALLETSYNC_TWELVEDATA_DAILY_CREDITS")
    )

    @field_validator("solana_rpc_urls", "blockfrost_urls", "twelvedata_urls", mode="before")
    @classmethod
    def _split_provider_urls(cls, value: object) -> object:
        return split_commas(value)

    @field_validator("asset_metadata_ttl", mode="before")
    @classmethod
    def _metadata_ttl_seconds_or_duration(cls, value: object) -> object:
        return seconds_or_duration(value)

    @field_validator("solana_rpc_urls", "blockfrost_urls", "twelvedata_urls")
    @classmethod
    def _http_urls(cls, value: list[str]) -> list[str]:
        for url in value:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"{url!r} is not an http(s) URL")
        return [url.rstrip("/") for url in value]

    @property
    def uses_simulator(self) -> bool:
        """True when no provider URL of any kind is configured."""
        return not (self.solana_rpc_urls or self.blockfrost_urls or self.twelvedata_urls)

    def provider_config(self, name: Literal["solana", "blockfrost", "twelvedata"]) -> ProviderConfig:
        common = {
            "timeout_s": self.provider_timeout_s,
            "max_attempts": self.provider_max_attempts,
            "backoff_initial_s": self.provider_backoff_initial_s,
            "backoff_max_s": self.provider_backoff_max_s,
            "breaker_failure_threshold": self.breaker_failure_threshold,
            "breaker_cooldown_s": self.breaker_cooldown_s,
            "breaker_failure_rate": self.breaker_failure_rate,
            "breaker_window_s": self.breaker_window_s,
            "breaker_min_calls": self.breaker_min_calls,
            "deadline_s": self.provider_deadline_s,
            "metadata_cache_ttl_s": self.metadata_cache_ttl_s,
        }
        if name == "solana":
            return ProviderConfig(
                name=name,
                urls=tuple(self.solana_rpc_urls),
                api_key=None,
                rate=self.solana_rate,
                burst=self.solana_burst,
                max_concurrency=self.solana_max_concurrency,
                **common,  # type: ignore[arg-type]
            )
        if name == "blockfrost":
            return ProviderConfig(
                name=name,
                urls=tuple(self.blockfrost_urls),
                api_key=self.blockfrost_project_id,
                rate=self.blockfrost_rate,
                burst=self.blockfrost_burst,
                max_concurrency=self.blockfrost_max_concurrency,
                **common,  # type: ignore[arg-type]
            )
        return ProviderConfig(
            name=name,
            urls=tuple(self.twelvedata_urls),
            api_key=self.twelvedata_api_key,
            rate=self.twelvedata_rate_per_min / 60.0,
            burst=max(1, int(self.twelvedata_rate_per_min)),
            max_concurrency=4,
            **common,  # type: ignore[arg-type]
        )
