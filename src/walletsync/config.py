"""Every environment variable walletsync reads, in one pydantic-settings object.

Nothing else in walletsync reads `os.environ`: code receives a `Settings` (usually from
`get_settings()`), and tests build their own. Invalid values fail at start: `load_settings()` turns a
validation error into a `ConfigError` whose message names the variable on one line.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

import platformdirs
from pydantic import AliasChoices, Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from walletsync.errors import ConfigError

CommaList = Annotated[list[str], NoDecode]


class Chain(StrEnum):
    SOLANA = "solana"
    CARDANO = "cardano"


def _alias(*names: str) -> AliasChoices:
    return AliasChoices(*names)


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


class Settings(BaseSettings):
    """walletsync configuration. Field aliases are the environment variable names."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
        case_sensitive=False,
    )

    # --- database -------------------------------------------------------------------------
    database_url: str | None = Field(default=None, validation_alias=_alias("DATABASE_URL"))
    database_replica_urls: CommaList = Field(
        default_factory=list, validation_alias=_alias("DATABASE_REPLICA_URLS")
    )
    database_pool_size: int = Field(default=10, ge=1, le=1000, validation_alias=_alias("DATABASE_POOL_SIZE"))
    database_max_overflow: int = Field(
        default=10, ge=0, le=1000, validation_alias=_alias("DATABASE_MAX_OVERFLOW")
    )
    database_pool_timeout_s: float = Field(
        default=30.0, gt=0, validation_alias=_alias("DATABASE_POOL_TIMEOUT")
    )
    database_pool_recycle_s: int = Field(
        default=1800, ge=-1, validation_alias=_alias("DATABASE_POOL_RECYCLE")
    )
    database_pgbouncer: bool = Field(default=False, validation_alias=_alias("DATABASE_PGBOUNCER"))
    # A session (not transaction-pooled) connection to the same database, for what needs one:
    # migrations under their advisory lock, per-wallet sync locks, and the job queue (LISTEN/NOTIFY).
    database_direct_url: str | None = Field(
        default=None, validate_default=True, validation_alias=_alias("DATABASE_DIRECT_URL")
    )
    auto_migrate: bool = Field(default=True, validation_alias=_alias("WALLETSYNC_AUTO_MIGRATE"))
    data_dir: Path = Field(
        default_factory=lambda: Path(platformdirs.user_data_dir("walletsync")),
        validation_alias=_alias("WALLETSYNC_DATA_DIR"),
    )

    # --- cache ----------------------------------------------------------------------------
    redis_url: str | None = Field(default=None, validation_alias=_alias("REDIS_URL"))
    cache_enabled: bool = Field(default=True, validation_alias=_alias("WALLETSYNC_CACHE"))
    cache_ttl_balances_s: int = Field(default=30, ge=1, validation_alias=_alias("CACHE_TTL_BALANCES"))
    cache_ttl_leaderboard_s: int = Field(default=60, ge=1, validation_alias=_alias("CACHE_TTL_LEADERBOARD"))
    cache_ttl_prices_s: int = Field(default=60, ge=1, validation_alias=_alias("CACHE_TTL_PRICES"))
    # Prefix of every cache and rate-limit key, so deployments (or test runs) can share one Redis.
    cache_namespace: str = Field(
        default="walletsync", pattern=r"^[A-Za-z0-9_.-]{1,64}$", validation_alias=_alias("WALLETSYNC_CACHE_NAMESPACE")
    )

    # --- logging --------------------------------------------------------------------------
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", validation_alias=_alias("WALLETSYNC_LOG_LEVEL")
    )
    log_format: Literal["json", "console"] = Field(
        default="json", validation_alias=_alias("WALLETSYNC_LOG_FORMAT")
    )

    # --- providers (shared resilience knobs) ----------------------------------------------
    provider_timeout_s: float = Field(default=10.0, gt=0, validation_alias=_alias("PROVIDER_TIMEOUT"))
    provider_max_attempts: int = Field(
        default=6, ge=1, le=50, validation_alias=_alias("PROVIDER_MAX_ATTEMPTS")
    )
    provider_backoff_initial_s: float = Field(
        default=0.2, gt=0, validation_alias=_alias("PROVIDER_BACKOFF_INITIAL")
    )
    provider_backoff_max_s: float = Field(default=10.0, gt=0, validation_alias=_alias("PROVIDER_BACKOFF_MAX"))
    breaker_failure_threshold: int = Field(
        default=5, ge=1, validation_alias=_alias("BREAKER_FAILURE_THRESHOLD")
    )
    breaker_cooldown_s: float = Field(default=30.0, gt=0, validation_alias=_alias("BREAKER_COOLDOWN"))
    metadata_cache_ttl_s: float = Field(default=3600.0, gt=0, validation_alias=_alias("METADATA_CACHE_TTL"))

    # --- Solana JSON-RPC ------------------------------------------------------------------
    solana_rpc_urls: CommaList = Field(default_factory=list, validation_alias=_alias("SOLANA_RPC_URLS"))
    solana_commitment: Literal["finalized", "confirmed"] = Field(
        default="finalized", validation_alias=_alias("SOLANA_COMMITMENT")
    )
    solana_rate: float = Field(default=10.0, gt=0, validation_alias=_alias("SOLANA_RATE"))
    solana_burst: int = Field(default=100, ge=1, validation_alias=_alias("SOLANA_BURST"))
    solana_max_concurrency: int = Field(default=16, ge=1, validation_alias=_alias("SOLANA_MAX_CONCURRENCY"))

    # --- Blockfrost (Cardano) -------------------------------------------------------------
    blockfrost_urls: CommaList = Field(default_factory=list, validation_alias=_alias("BLOCKFROST_URLS"))
    blockfrost_project_id: str | None = Field(default=None, validation_alias=_alias("BLOCKFROST_PROJECT_ID"))
    blockfrost_rate: float = Field(default=10.0, gt=0, validation_alias=_alias("BLOCKFROST_RATE"))
    blockfrost_burst: int = Field(default=500, ge=1, validation_alias=_alias("BLOCKFROST_BURST"))
    blockfrost_max_concurrency: int = Field(
        default=100, ge=1, validation_alias=_alias("BLOCKFROST_MAX_CONCURRENCY")
    )
    cardano_safety_depth: int = Field(default=15, ge=0, validation_alias=_alias("CARDANO_SAFETY_DEPTH"))

    # --- Twelve Data ----------------------------------------------------------------------
    twelvedata_urls: CommaList = Field(default_factory=list, validation_alias=_alias("TWELVEDATA_URLS"))
    twelvedata_api_key: str | None = Field(default=None, validation_alias=_alias("TWELVEDATA_API_KEY"))
    twelvedata_rate_per_min: float = Field(
        default=8.0, gt=0, validation_alias=_alias("TWELVEDATA_RATE_PER_MIN")
    )
    twelvedata_daily_credits: int = Field(
        default=800, ge=1, validation_alias=_alias("TWELVEDATA_DAILY_CREDITS")
    )
    price_intervals: CommaList = Field(
        default_factory=lambda: ["1h", "1day"], validation_alias=_alias("PRICE_INTERVALS")
    )
    price_symbols: CommaList = Field(
        default_factory=lambda: ["SOL/USD", "ADA/USD"], validation_alias=_alias("PRICE_SYMBOLS")
    )
    quote_currency: str = Field(default="USD", validation_alias=_alias("QUOTE_CURRENCY"))
    price_history_days: int = Field(default=90, ge=1, le=3650, validation_alias=_alias("PRICE_HISTORY_DAYS"))
    price_asset_map: CommaList = Field(default_factory=list, validation_alias=_alias("PRICE_ASSET_MAP"))
    price_crypto_quotes: CommaList = Field(
        default_factory=lambda: ["USD"], validation_alias=_alias("PRICE_CRYPTO_QUOTES")
    )
    price_stock_exchanges: CommaList = Field(
        default_factory=list, validation_alias=_alias("PRICE_STOCK_EXCHANGES")
    )

    # --- indexing and jobs ----------------------------------------------------------------
    sync_interval_s: int = Field(default=300, ge=1, validation_alias=_alias("SYNC_INTERVAL"))
    # getTransaction calls per Solana JSON-RPC batch; public RPCs commonly cap batches near 100.
    sync_batch_size: int = Field(default=100, ge=1, le=1000, validation_alias=_alias("SYNC_BATCH_SIZE"))
    sync_fetch_concurrency: int = Field(
        default=64, ge=1, le=1024, validation_alias=_alias("SYNC_FETCH_CONCURRENCY")
    )
    store_raw_transactions: bool = Field(default=True, validation_alias=_alias("STORE_RAW_TRANSACTIONS"))
    job_max_attempts: int = Field(default=5, ge=1, le=100, validation_alias=_alias("JOB_MAX_ATTEMPTS"))
    worker_concurrency: int = Field(default=4, ge=1, le=256, validation_alias=_alias("WORKER_CONCURRENCY"))
    worker_heartbeat_s: float = Field(
        default=10.0, gt=0, le=300, validation_alias=_alias("WORKER_HEARTBEAT_INTERVAL")
    )
    # A job whose worker has not sent a heartbeat for this long is requeued (the worker died).
    worker_stalled_after_s: float = Field(
        default=60.0, gt=0, le=3600, validation_alias=_alias("WORKER_STALLED_AFTER")
    )

    # --- API ------------------------------------------------------------------------------
    public_reads: bool = Field(default=False, validation_alias=_alias("WALLETSYNC_PUBLIC_READS"))
    cors_origins: CommaList = Field(default_factory=list, validation_alias=_alias("WALLETSYNC_CORS_ORIGINS"))
    max_body_bytes: int = Field(
        default=1_048_576, ge=1024, validation_alias=_alias("WALLETSYNC_MAX_BODY_BYTES")
    )
    api_rate_limit: str = Field(default="600/minute", validation_alias=_alias("WALLETSYNC_API_RATE_LIMIT"))

    # --- web dashboard --------------------------------------------------------------------
    dashboard_enabled: bool = Field(
        default=True, validation_alias=_alias("WALLETSYNC_DASHBOARD_ENABLED", "DASHBOARD_ENABLED")
    )
    dashboard_session_ttl_s: int = Field(
        default=43_200, ge=60, le=30 * 86_400, validation_alias=_alias("WALLETSYNC_DASHBOARD_SESSION_TTL")
    )
    explorer_tx_url_solana: str = Field(
        default="https://explorer.solana.com/tx/{tx_id}",
        validation_alias=_alias("WALLETSYNC_EXPLORER_TX_URL_SOLANA"),
    )
    explorer_tx_url_cardano: str = Field(
        default="https://cardanoscan.io/transaction/{tx_id}",
        validation_alias=_alias("WALLETSYNC_EXPLORER_TX_URL_CARDANO"),
    )

    @field_validator(
        "database_replica_urls",
        "solana_rpc_urls",
        "blockfrost_urls",
        "twelvedata_urls",
        "price_intervals",
        "price_symbols",
        "price_asset_map",
        "price_crypto_quotes",
        "price_stock_exchanges",
        "cors_origins",
        mode="before",
    )
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("explorer_tx_url_solana", "explorer_tx_url_cardano")
    @classmethod
    def _explorer_template(cls, value: str) -> str:
        value = value.strip()
        if value and ("{tx_id}" not in value or not value.startswith(("https://", "http://"))):
            raise ValueError("must be an http(s) URL containing {tx_id}, or empty for no links")
        return value

    @field_validator("database_direct_url")
    @classmethod
    def _direct_url_with_pgbouncer(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and not value.startswith(("postgresql", "postgres://")):
            raise ValueError("must be a postgresql:// URL")
        if value is None and info.data.get("database_pgbouncer"):
            raise ValueError(
                "required when DATABASE_PGBOUNCER=true: migrations, sync locks and the job queue need "
                "a session connection to PostgreSQL itself, not through PgBouncer's transaction pooling"
            )
        return value

    @field_validator("database_url", "database_direct_url", "redis_url", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("database_url")
    @classmethod
    def _postgres_only(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("postgresql", "postgres://")):
            raise ValueError("must be a postgresql:// URL")
        return value

    @field_validator("database_replica_urls")
    @classmethod
    def _replicas_postgres_only(cls, value: list[str]) -> list[str]:
        for url in value:
            if not url.startswith(("postgresql", "postgres://")):
                raise ValueError("every replica must be a postgresql:// URL")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        return value

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


def _env_name(settings_field: str) -> str:
    info = Settings.model_fields.get(settings_field)
    if info is not None and isinstance(info.validation_alias, AliasChoices):
        first = info.validation_alias.choices[0]
        if isinstance(first, str):
            return first
    return settings_field.upper()


def load_settings(**overrides: object) -> Settings:
    """Build `Settings` from the environment (and `.env`), raising `ConfigError` on a bad value.

    The error message is one line: `DATABASE_POOL_SIZE: Input should be greater than or equal to 1 (got '-1')`.
    """
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "settings"
        got = first.get("input")
        secret = any(word in field.lower() for word in ("url", "key", "project_id"))
        shown = "" if secret or isinstance(got, dict) else f" (got {got!r})"
        message = f"{_env_name(field)}: {first['msg']}{shown}"
        raise ConfigError(message) from None


@functools.cache
def get_settings() -> Settings:
    """The process-wide settings, loaded once."""
    return load_settings()
