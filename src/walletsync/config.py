"""Every environment variable walletsync reads, in one pydantic-settings object.

Nothing else in walletsync reads `os.environ`: code receives a `Settings` (usually from
`get_settings()`), and tests build their own. Invalid values fail at start: `load_settings()` turns a
validation error into a `ConfigError` whose message names the variable on one line.

Every variable is named `WALLETSYNC_<NAME>`, so that walletsync never picks up another program's
`SYNC_INTERVAL` or `PROVIDER_TIMEOUT`. The connection URLs keep their conventional plain names as
accepted aliases (`DATABASE_URL`, `DATABASE_DIRECT_URL`, `DATABASE_REPLICA_URLS`, `REDIS_URL`,
`SOLANA_RPC_URLS`, `BLOCKFROST_URLS`, `TWELVEDATA_URLS`); when both spellings are set, the prefixed
one wins. A field declared without an alias is read as `WALLETSYNC_<FIELD NAME>` (`env_prefix`).
Unprefixed names that walletsync read before the prefix (`LEGACY_NAMES`) are no longer read;
`legacy_names_set()` lists any that are still set, so the CLI can say how to rename them.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

import platformdirs
from dotenv import dotenv_values
from pydantic import AliasChoices, Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from walletsync.chain import Chain as Chain  # re-exported: the rest of the code imports it from here
from walletsync.errors import ConfigError

CommaList = Annotated[list[str], NoDecode]

# Shapes of the list settings' items, checked at start (a typo fails the process, not a job hours later).
_SYMBOL = re.compile(r"[A-Za-z0-9.:_-]+(/[A-Za-z0-9._-]+)?")
_CURRENCY = re.compile(r"[A-Za-z]{2,10}")
_EXCHANGE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._-]*")
_ORIGIN = re.compile(r"https?://[^/\s?#]+")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


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
    breaker_failure_rate: float = 0.5
    breaker_window_s: float = 60.0
    breaker_min_calls: int = 1
    deadline_s: float = 120.0  # one call, all attempts and waits (429 Retry-After included)


class Settings(BaseSettings):
    """walletsync configuration. Field aliases are the environment variable names."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        env_prefix="WALLETSYNC_",
        populate_by_name=True,
        case_sensitive=False,
    )

    # --- database -------------------------------------------------------------------------
    database_url: str | None = Field(
        default=None, validation_alias=_alias("WALLETSYNC_DATABASE_URL", "DATABASE_URL")
    )
    database_replica_urls: CommaList = Field(
        default_factory=list,
        validation_alias=_alias("WALLETSYNC_DATABASE_REPLICA_URLS", "DATABASE_REPLICA_URLS"),
    )
    database_pool_size: int = Field(
        default=10, ge=1, le=1000, validation_alias=_alias("WALLETSYNC_DATABASE_POOL_SIZE")
    )
    database_max_overflow: int = Field(
        default=10, ge=0, le=1000, validation_alias=_alias("WALLETSYNC_DATABASE_MAX_OVERFLOW")
    )
    database_pool_timeout_s: float = Field(
        default=30.0, gt=0, validation_alias=_alias("WALLETSYNC_DATABASE_POOL_TIMEOUT")
    )
    database_pool_recycle_s: int = Field(
        default=1800, ge=-1, validation_alias=_alias("WALLETSYNC_DATABASE_POOL_RECYCLE")
    )
    # A replica whose replay is further behind than this is skipped (reads go elsewhere).
    replica_max_lag_s: float = Field(
        default=5.0, gt=0, le=3600, validation_alias=_alias("WALLETSYNC_REPLICA_MAX_LAG")
    )
    database_pgbouncer: bool = Field(default=False, validation_alias=_alias("WALLETSYNC_DATABASE_PGBOUNCER"))
    # A session (not transaction-pooled) connection to the same database, for what needs one:
    # migrations under their advisory lock, per-wallet sync locks, and the job queue (LISTEN/NOTIFY).
    database_direct_url: str | None = Field(
        default=None,
        validate_default=True,
        validation_alias=_alias("WALLETSYNC_DATABASE_DIRECT_URL", "DATABASE_DIRECT_URL"),
    )
    auto_migrate: bool = Field(default=True, validation_alias=_alias("WALLETSYNC_AUTO_MIGRATE"))
    data_dir: Path = Field(
        default_factory=lambda: Path(platformdirs.user_data_dir("walletsync")),
        validation_alias=_alias("WALLETSYNC_DATA_DIR"),
    )

    # --- cache ----------------------------------------------------------------------------
    redis_url: str | None = Field(default=None, validation_alias=_alias("WALLETSYNC_REDIS_URL", "REDIS_URL"))
    cache_enabled: bool = Field(default=True, validation_alias=_alias("WALLETSYNC_CACHE"))
    cache_ttl_balances_s: int = Field(
        default=30, ge=1, validation_alias=_alias("WALLETSYNC_CACHE_TTL_BALANCES")
    )
    cache_ttl_leaderboard_s: int = Field(
        default=60, ge=1, validation_alias=_alias("WALLETSYNC_CACHE_TTL_LEADERBOARD")
    )
    cache_ttl_prices_s: int = Field(default=60, ge=1, validation_alias=_alias("WALLETSYNC_CACHE_TTL_PRICES"))
    # Memory per process for the first cache level in front of Redis (cache_local.py); 0 turns it off.
    cache_local_mb: int = Field(
        default=64, ge=0, le=65536, validation_alias=_alias("WALLETSYNC_CACHE_LOCAL_MB")
    )
    # Prefix of every cache and rate-limit key, so deployments (or test runs) can share one Redis.
    cache_namespace: str = Field(
        default="walletsync",
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        validation_alias=_alias("WALLETSYNC_CACHE_NAMESPACE"),
    )

    # --- logging --------------------------------------------------------------------------
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", validation_alias=_alias("WALLETSYNC_LOG_LEVEL")
    )
    # auto: readable console lines when stderr is a terminal, JSON lines otherwise (files, journald, docker).
    log_format: Literal["auto", "json", "console"] = Field(
        default="auto", validation_alias=_alias("WALLETSYNC_LOG_FORMAT")
    )

    # --- providers (shared resilience knobs) ----------------------------------------------
    provider_timeout_s: float = Field(
        default=10.0, gt=0, validation_alias=_alias("WALLETSYNC_PROVIDER_TIMEOUT")
    )
    provider_max_attempts: int = Field(
        default=6, ge=1, le=50, validation_alias=_alias("WALLETSYNC_PROVIDER_MAX_ATTEMPTS")
    )
    provider_backoff_initial_s: float = Field(
        default=0.2, gt=0, validation_alias=_alias("WALLETSYNC_PROVIDER_BACKOFF_INITIAL")
    )
    provider_backoff_max_s: float = Field(
        default=10.0, gt=0, validation_alias=_alias("WALLETSYNC_PROVIDER_BACKOFF_MAX")
    )
    # Breakers open on a failure rate over a window (see providers/breaker.py), not on a burst.
    breaker_failure_threshold: int = Field(
        default=5, ge=1, validation_alias=_alias("WALLETSYNC_BREAKER_FAILURE_THRESHOLD")
    )
    breaker_failure_rate: float = Field(
        default=0.5, gt=0, le=1, validation_alias=_alias("WALLETSYNC_BREAKER_FAILURE_RATE")
    )
    breaker_window_s: float = Field(default=60.0, gt=0, validation_alias=_alias("WALLETSYNC_BREAKER_WINDOW"))
    breaker_min_calls: int = Field(default=20, ge=1, validation_alias=_alias("WALLETSYNC_BREAKER_MIN_CALLS"))
    provider_deadline_s: float = Field(
        default=120.0, gt=0, validation_alias=_alias("WALLETSYNC_PROVIDER_DEADLINE")
    )
    breaker_cooldown_s: float = Field(
        default=30.0, gt=0, validation_alias=_alias("WALLETSYNC_BREAKER_COOLDOWN")
    )
    metadata_cache_ttl_s: float = Field(
        default=3600.0, gt=0, validation_alias=_alias("WALLETSYNC_METADATA_CACHE_TTL")
    )
    # Token names, symbols and decimals stored in `assets` are re-read from the providers once they
    # are older than this (seconds, or ISO 8601 such as P1D), at most ..._REFRESH_LIMIT assets per
    # hourly run of the `refresh_asset_metadata` job (indexing/asset_refresh.py).
    asset_metadata_ttl: timedelta = Field(
        default=timedelta(days=1),
        gt=timedelta(0),
        validation_alias=_alias("WALLETSYNC_ASSET_METADATA_TTL"),
    )
    asset_metadata_refresh_limit: int = Field(
        default=200, ge=1, le=100_000, validation_alias=_alias("WALLETSYNC_ASSET_METADATA_REFRESH_LIMIT")
    )

    # --- Solana JSON-RPC ------------------------------------------------------------------
    solana_rpc_urls: CommaList = Field(
        default_factory=list, validation_alias=_alias("WALLETSYNC_SOLANA_RPC_URLS", "SOLANA_RPC_URLS")
    )
    solana_commitment: Literal["finalized", "confirmed"] = Field(
        default="finalized", validation_alias=_alias("WALLETSYNC_SOLANA_COMMITMENT")
    )
    solana_rate: float = Field(default=10.0, gt=0, validation_alias=_alias("WALLETSYNC_SOLANA_RATE"))
    solana_burst: int = Field(default=100, ge=1, validation_alias=_alias("WALLETSYNC_SOLANA_BURST"))
    solana_max_concurrency: int = Field(
        default=16, ge=1, validation_alias=_alias("WALLETSYNC_SOLANA_MAX_CONCURRENCY")
    )

    # --- Blockfrost (Cardano) -------------------------------------------------------------
    blockfrost_urls: CommaList = Field(
        default_factory=list, validation_alias=_alias("WALLETSYNC_BLOCKFROST_URLS", "BLOCKFROST_URLS")
    )
    blockfrost_project_id: str | None = Field(
        default=None, validation_alias=_alias("WALLETSYNC_BLOCKFROST_PROJECT_ID")
    )
    blockfrost_rate: float = Field(default=10.0, gt=0, validation_alias=_alias("WALLETSYNC_BLOCKFROST_RATE"))
    blockfrost_burst: int = Field(default=500, ge=1, validation_alias=_alias("WALLETSYNC_BLOCKFROST_BURST"))
    blockfrost_max_concurrency: int = Field(
        default=100, ge=1, validation_alias=_alias("WALLETSYNC_BLOCKFROST_MAX_CONCURRENCY")
    )
    cardano_safety_depth: int = Field(
        default=15, ge=0, validation_alias=_alias("WALLETSYNC_CARDANO_SAFETY_DEPTH")
    )
    # Indexed transactions this many blocks below the tip or less are re-checked on every sync and
    # retracted when rolled back. Cardano's security parameter k = 2160 bounds any rollback.
    cardano_rollback_window: int = Field(
        default=2160, ge=0, validation_alias=_alias("WALLETSYNC_CARDANO_ROLLBACK_WINDOW")
    )

    # --- Twelve Data ----------------------------------------------------------------------
    twelvedata_urls: CommaList = Field(
        default_factory=list, validation_alias=_alias("WALLETSYNC_TWELVEDATA_URLS", "TWELVEDATA_URLS")
    )
    twelvedata_api_key: str | None = Field(
        default=None, validation_alias=_alias("WALLETSYNC_TWELVEDATA_API_KEY")
    )
    twelvedata_rate_per_min: float = Field(
        default=8.0, gt=0, validation_alias=_alias("WALLETSYNC_TWELVEDATA_RATE_PER_MIN")
    )
    twelvedata_daily_credits: int = Field(
        default=800, ge=1, validation_alias=_alias("WALLETSYNC_TWELVEDATA_DAILY_CREDITS")
    )
    price_intervals: CommaList = Field(
        default_factory=lambda: ["1h", "1day"], validation_alias=_alias("WALLETSYNC_PRICE_INTERVALS")
    )
    price_symbols: CommaList = Field(
        default_factory=lambda: ["SOL/USD", "ADA/USD"], validation_alias=_alias("WALLETSYNC_PRICE_SYMBOLS")
    )
    quote_currency: str = Field(default="USD", validation_alias=_alias("WALLETSYNC_QUOTE_CURRENCY"))
    price_history_days: int = Field(
        default=90, ge=1, le=3650, validation_alias=_alias("WALLETSYNC_PRICE_HISTORY_DAYS")
    )
    price_asset_map: CommaList = Field(
        default_factory=list, validation_alias=_alias("WALLETSYNC_PRICE_ASSET_MAP")
    )
    price_crypto_quotes: CommaList = Field(
        default_factory=lambda: ["USD"], validation_alias=_alias("WALLETSYNC_PRICE_CRYPTO_QUOTES")
    )
    price_stock_exchanges: CommaList = Field(
        default_factory=list, validation_alias=_alias("WALLETSYNC_PRICE_STOCK_EXCHANGES")
    )

    # --- indexing and jobs ----------------------------------------------------------------
    sync_interval_s: int = Field(default=300, ge=1, validation_alias=_alias("WALLETSYNC_SYNC_INTERVAL"))
    # getTransaction calls per Solana JSON-RPC batch; public RPCs commonly cap batches near 100.
    sync_batch_size: int = Field(
        default=100, ge=1, le=1000, validation_alias=_alias("WALLETSYNC_SYNC_BATCH_SIZE")
    )
    sync_fetch_concurrency: int = Field(
        default=64, ge=1, le=1024, validation_alias=_alias("WALLETSYNC_SYNC_FETCH_CONCURRENCY")
    )
    store_raw_transactions: bool = Field(
        default=True, validation_alias=_alias("WALLETSYNC_STORE_RAW_TRANSACTIONS")
    )
    # Native staking lines (`indexing.staking`); off for an RPC endpoint that refuses getProgramAccounts.
    staking: bool = Field(default=True, validation_alias=_alias("WALLETSYNC_STAKING"))
    job_max_attempts: int = Field(
        default=5, ge=1, le=100, validation_alias=_alias("WALLETSYNC_JOB_MAX_ATTEMPTS")
    )
    worker_concurrency: int = Field(
        default=4, ge=1, le=256, validation_alias=_alias("WALLETSYNC_WORKER_CONCURRENCY")
    )
    worker_heartbeat_s: float = Field(
        default=10.0, gt=0, le=300, validation_alias=_alias("WALLETSYNC_WORKER_HEARTBEAT_INTERVAL")
    )
    # A job whose worker has not sent a heartbeat for this long is requeued (the worker died).
    worker_stalled_after_s: float = Field(
        default=60.0, gt=0, le=3600, validation_alias=_alias("WALLETSYNC_WORKER_STALLED_AFTER")
    )
    # A worker that loses PostgreSQL waits this long for it (reconnecting with backoff), then exits 75.
    worker_reconnect_timeout_s: float = Field(
        default=300.0, gt=0, le=86400, validation_alias=_alias("WALLETSYNC_WORKER_RECONNECT_TIMEOUT")
    )
    # Jobs that ended are deleted this long after (seconds, or an ISO 8601 duration such as P7D);
    # failed ones (the dead-letter list) are kept longer, with their recorded errors.
    job_retention: timedelta = Field(
        default=timedelta(days=7), gt=timedelta(0), validation_alias=_alias("WALLETSYNC_JOB_RETENTION")
    )
    job_failed_retention: timedelta = Field(
        default=timedelta(days=30),
        gt=timedelta(0),
        validation_alias=_alias("WALLETSYNC_JOB_FAILED_RETENTION"),
    )

    # Provider statistics (the operations page): each process writes its counts this often (seconds)
    # and at exit; minutes older than the retention are deleted by the hourly prune job.
    provider_stats_flush_s: float = Field(
        default=10.0, gt=0, le=3600, validation_alias=_alias("WALLETSYNC_PROVIDER_STATS_FLUSH")
    )
    provider_stats_retention: timedelta = Field(
        default=timedelta(hours=48),
        ge=timedelta(hours=1),
        validation_alias=_alias("WALLETSYNC_PROVIDER_STATS_RETENTION"),
    )

    # --- API ------------------------------------------------------------------------------
    public_reads: bool = Field(default=False, validation_alias=_alias("WALLETSYNC_PUBLIC_READS"))
    # The Cardano network this instance indexes: wallet addresses of another network are refused.
    cardano_network: Literal["mainnet", "preprod", "preview"] = Field(
        default="mainnet", validation_alias=_alias("WALLETSYNC_CARDANO_NETWORK")
    )
    # Off by default, safe on a public bind: /metrics then needs a key (read scope or better).
    metrics_public: bool = Field(default=False, validation_alias=_alias("WALLETSYNC_METRICS_PUBLIC"))
    docs_enabled: bool = Field(default=True, validation_alias=_alias("WALLETSYNC_DOCS_ENABLED"))
    cors_origins: CommaList = Field(default_factory=list, validation_alias=_alias("WALLETSYNC_CORS_ORIGINS"))
    max_body_bytes: int = Field(
        default=1_048_576, ge=1024, validation_alias=_alias("WALLETSYNC_MAX_BODY_BYTES")
    )
    api_rate_limit: str = Field(default="600/minute", validation_alias=_alias("WALLETSYNC_API_RATE_LIMIT"))
    # Requests that need a key looked up (or carry none) spend this per client address first.
    api_auth_rate_limit: str = Field(
        default="120/minute", validation_alias=_alias("WALLETSYNC_API_AUTH_RATE_LIMIT")
    )
    # Peers (addresses or CIDR blocks) whose X-Forwarded-For names the client; no one by default.
    trusted_proxies: CommaList = Field(
        default_factory=list, validation_alias=_alias("WALLETSYNC_TRUSTED_PROXIES")
    )

    # --- web dashboard --------------------------------------------------------------------
    dashboard_enabled: bool = Field(default=True, validation_alias=_alias("WALLETSYNC_DASHBOARD_ENABLED"))
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

    # --- Events: webhooks and live streams (events/) -----------------------------------------
    # Webhook targets on private, loopback or link-local addresses are refused unless this is true.
    webhook_allow_private: bool = Field(
        default=False, validation_alias=_alias("WALLETSYNC_WEBHOOK_ALLOW_PRIVATE")
    )
    webhook_timeout_s: float = Field(
        default=10.0, gt=0, le=60, validation_alias=_alias("WALLETSYNC_WEBHOOK_TIMEOUT")
    )
    # Webhook POSTs in flight per relay (each webhook and wallet still gets one at a time, in order).
    webhook_concurrency: int = Field(
        default=16, ge=1, le=256, validation_alias=_alias("WALLETSYNC_WEBHOOK_CONCURRENCY")
    )
    # Replay window of the outbox: events older than this are pruned once every delivery is final.
    event_retention_s: int = Field(
        default=7 * 86400, ge=60, validation_alias=_alias("WALLETSYNC_EVENT_RETENTION")
    )
    # /readyz degrades when an event has waited longer than this for its webhook deliveries.
    events_ready_max_age_s: float = Field(
        default=600.0, gt=0, validation_alias=_alias("WALLETSYNC_EVENTS_READY_MAX_AGE")
    )
    # Live streams (SSE and WebSocket): connections per API key, and events buffered per client
    # before a client too slow to read them is disconnected.
    events_stream_max_per_key: int = Field(
        default=10, ge=1, le=10_000, validation_alias=_alias("WALLETSYNC_EVENTS_STREAM_MAX_PER_KEY")
    )
    events_stream_buffer: int = Field(
        default=1000, ge=10, le=1_000_000, validation_alias=_alias("WALLETSYNC_EVENTS_STREAM_BUFFER")
    )
    # Run the outbox relay inside `serve` and `worker` (false: only the periodic job relays).
    events_relay: bool = Field(default=True, validation_alias=_alias("WALLETSYNC_EVENTS_RELAY"))

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
        "trusted_proxies",
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

    @field_validator("event_retention_s", mode="before")
    @classmethod
    def _duration(cls, value: object) -> object:
        """`EVENT_RETENTION` takes seconds or a number with a unit: `90m`, `36h`, `7d`."""
        if isinstance(value, str) and value.strip()[-1:].lower() in _UNITS:
            text = value.strip().lower()
            try:
                return int(float(text[:-1]) * _UNITS[text[-1]])
            except ValueError:
                raise ValueError("expected seconds or a number with s, m, h or d (e.g. 7d)") from None
        return value

    @field_validator("price_intervals")
    @classmethod
    def _known_intervals(cls, value: list[str]) -> list[str]:
        from walletsync.market.intervals import INTERVALS

        if not value:
            raise ValueError(f"needs at least one interval ({', '.join(INTERVALS)})")
        for name in value:
            if name not in INTERVALS:
                raise ValueError(f"{name!r} is not an interval; use {', '.join(INTERVALS)}")
        return value

    @field_validator("price_symbols")
    @classmethod
    def _symbols(cls, value: list[str]) -> list[str]:
        for symbol in value:
            if not _SYMBOL.fullmatch(symbol):
                raise ValueError(f"{symbol!r} is not a symbol (BASE/QUOTE such as SOL/USD, or a ticker)")
        return value

    @field_validator("price_crypto_quotes")
    @classmethod
    def _currencies(cls, value: list[str]) -> list[str]:
        for code in value:
            if not _CURRENCY.fullmatch(code):
                raise ValueError(f"{code!r} is not a currency code (such as USD)")
        return value

    @field_validator("quote_currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        if not _CURRENCY.fullmatch(value.strip()):
            raise ValueError(f"{value!r} is not a currency code (such as USD)")
        return value.strip()

    @field_validator("price_stock_exchanges")
    @classmethod
    def _exchanges(cls, value: list[str]) -> list[str]:
        for name in value:
            if not _EXCHANGE.fullmatch(name):
                raise ValueError(f"{name!r} is not an exchange name (such as NASDAQ)")
        return value

    @field_validator("price_asset_map")
    @classmethod
    def _asset_map(cls, value: list[str]) -> list[str]:
        from walletsync.market.links import parse_price_rule

        for entry in value:
            try:
                parse_price_rule(entry)
            except ConfigError as exc:  # its message starts with the variable's name: keep the rest
                raise ValueError(exc.detail.partition(": ")[2]) from None
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for network in value:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError(f"{network!r} is not an IP address or CIDR block") from None
        return value

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if origin != "*" and not _ORIGIN.fullmatch(origin):
                raise ValueError(f"{origin!r} is not an origin (scheme://host[:port], no path) or *")
        return value

    @field_validator("database_direct_url")
    @classmethod
    def _direct_url_with_pgbouncer(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and not value.startswith(("postgresql", "postgres://")):
            raise ValueError("must be a postgresql:// URL")
        if value is None and info.data.get("database_pgbouncer"):
            raise ValueError(
                "required when WALLETSYNC_DATABASE_PGBOUNCER=true: migrations, sync locks and the job queue need "
                "a session connection to PostgreSQL itself, not through PgBouncer's transaction pooling"
            )
        return value

    @field_validator(
        "job_retention",
        "job_failed_retention",
        "provider_stats_retention",
        "asset_metadata_ttl",
        mode="before",
    )
    @classmethod
    def _seconds_or_duration(cls, value: object) -> object:
        """A plain number is seconds (like every other duration setting); else ISO 8601 (`P7D`)."""
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                return value
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


def env_names(settings_field: str) -> tuple[str, ...]:
    """The environment variable names a field is read from, the preferred one first."""
    info = Settings.model_fields.get(settings_field)
    if info is not None and isinstance(info.validation_alias, AliasChoices):
        return tuple(name for name in info.validation_alias.choices if isinstance(name, str))
    return (f"WALLETSYNC_{settings_field.upper()}",)


def env_name(loc: str) -> str:
    """The variable to name in an error about `loc` (a field or one of its variable names): the
    spelling actually set, else the preferred one."""
    field = next(
        (name for name in Settings.model_fields if loc.upper() in {n.upper() for n in env_names(name)}), loc
    )
    names = env_names(field)
    present = {key.upper() for key in os.environ} | {key.upper() for key in _dotenv()}
    return next((name for name in names if name.upper() in present), names[0])


def _dotenv() -> dict[str, str | None]:
    env_file = Settings.model_config.get("env_file")
    if not isinstance(env_file, str) or not Path(env_file).is_file():
        return {}
    return dotenv_values(env_file)


# Plain names read before every setting moved under WALLETSYNC_ (the aliases above still work).
LEGACY_NAMES: tuple[str, ...] = (
    "DATABASE_POOL_SIZE",
    "DATABASE_MAX_OVERFLOW",
    "DATABASE_POOL_TIMEOUT",
    "DATABASE_POOL_RECYCLE",
    "DATABASE_PGBOUNCER",
    "CACHE_TTL_BALANCES",
    "CACHE_TTL_LEADERBOARD",
    "CACHE_TTL_PRICES",
    "PROVIDER_TIMEOUT",
    "PROVIDER_MAX_ATTEMPTS",
    "PROVIDER_BACKOFF_INITIAL",
    "PROVIDER_BACKOFF_MAX",
    "BREAKER_FAILURE_THRESHOLD",
    "BREAKER_COOLDOWN",
    "METADATA_CACHE_TTL",
    "SOLANA_COMMITMENT",
    "SOLANA_RATE",
    "SOLANA_BURST",
    "SOLANA_MAX_CONCURRENCY",
    "BLOCKFROST_PROJECT_ID",
    "BLOCKFROST_RATE",
    "BLOCKFROST_BURST",
    "BLOCKFROST_MAX_CONCURRENCY",
    "CARDANO_SAFETY_DEPTH",
    "TWELVEDATA_API_KEY",
    "TWELVEDATA_RATE_PER_MIN",
    "TWELVEDATA_DAILY_CREDITS",
    "PRICE_INTERVALS",
    "PRICE_SYMBOLS",
    "QUOTE_CURRENCY",
    "PRICE_HISTORY_DAYS",
    "PRICE_ASSET_MAP",
    "PRICE_CRYPTO_QUOTES",
    "PRICE_STOCK_EXCHANGES",
    "SYNC_INTERVAL",
    "SYNC_BATCH_SIZE",
    "SYNC_FETCH_CONCURRENCY",
    "STORE_RAW_TRANSACTIONS",
    "JOB_MAX_ATTEMPTS",
    "WORKER_CONCURRENCY",
    "WORKER_HEARTBEAT_INTERVAL",
    "WORKER_STALLED_AFTER",
)


def legacy_names_set() -> list[str]:
    """Old unprefixed names still set in the environment or `.env`, which walletsync no longer reads."""
    present = {key.upper() for key in os.environ} | {key.upper() for key in _dotenv()}
    return [name for name in LEGACY_NAMES if name in present and f"WALLETSYNC_{name}" not in present]


def load_settings(**overrides: object) -> Settings:
    """Build `Settings` from the environment (and `.env`), raising `ConfigError` on a bad value.

    The error message is one line: `WALLETSYNC_DATABASE_POOL_SIZE: Input should be greater than or equal to 1 (got '-1')`.
    """
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "settings"
        got = first.get("input")
        secret = any(word in field.lower() for word in ("url", "key", "project_id"))
        shown = "" if secret or isinstance(got, dict) else f" (got {got!r})"
        message = f"{env_name(field)}: {first['msg']}{shown}"
        raise ConfigError(message) from None


@functools.cache
def get_settings() -> Settings:
    """The process-wide settings, loaded once."""
    return load_settings()
