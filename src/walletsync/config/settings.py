"""The one `Settings` object, composed of the groups in this package, and how it is loaded.

Every variable is named `WALLETSYNC_<NAME>`, so that walletsync never picks up another program's
`SYNC_INTERVAL` or `PROVIDER_TIMEOUT`. The connection URLs keep their conventional plain names as
accepted aliases (`DATABASE_URL`, `DATABASE_DIRECT_URL`, `DATABASE_REPLICA_URLS`, `REDIS_URL`,
`SOLANA_RPC_URLS`, `BLOCKFROST_URLS`, `TWELVEDATA_URLS`); when both spellings are set, the prefixed
one wins. A field declared without an alias is read as `WALLETSYNC_<FIELD NAME>` (`env_prefix`).
Unprefixed names that walletsync read before the prefix (`LEGACY_NAMES`) are no longer read;
`legacy_names_set()` lists any that are still set, so the CLI can say how to rename them.

The groups are listed in `Settings`' bases last-first: pydantic collects fields from the last base
first, so the fields keep the order they always had (the first invalid variable is the one reported,
and `database_direct_url`'s check reads `database_pgbouncer`, validated before it).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from dotenv import dotenv_values
from pydantic import AliasChoices, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from walletsync.config.api import ApiSettings
from walletsync.config.cache import CacheSettings
from walletsync.config.database import DatabaseSettings
from walletsync.config.events import EventSettings
from walletsync.config.jobs import JobSettings
from walletsync.config.logs import LogSettings
from walletsync.config.market import MarketSettings
from walletsync.config.providers import ProviderSettings
from walletsync.config.web import WebSettings
from walletsync.errors import ConfigError


class Settings(
    BaseSettings,
    EventSettings,
    WebSettings,
    ApiSettings,
    JobSettings,
    MarketSettings,
    ProviderSettings,
    LogSettings,
    CacheSettings,
    DatabaseSettings,
):
    """walletsync configuration. Field aliases are the environment variable names."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        env_prefix="WALLETSYNC_",
        populate_by_name=True,
        case_sensitive=False,
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
