"""PostgreSQL settings: the primary (and its direct session URL behind PgBouncer), replicas, the
connection pool, migrations at start, and where the embedded database keeps its data.
"""

from __future__ import annotations

from pathlib import Path

import platformdirs
from pydantic import BaseModel, Field, ValidationInfo, field_validator

from walletsync.config.fields import CommaList, alias, empty_is_unset, split_commas


class DatabaseSettings(BaseModel):
    """`WALLETSYNC_DATABASE_*`, `WALLETSYNC_REPLICA_MAX_LAG`, `WALLETSYNC_AUTO_MIGRATE`, `WALLETSYNC_DATA_DIR`."""

    database_url: str | None = Field(
        default=None, validation_alias=alias("WALLETSYNC_DATABASE_URL", "DATABASE_URL")
    )
    database_replica_urls: CommaList = Field(
        default_factory=list,
        validation_alias=alias("WALLETSYNC_DATABASE_REPLICA_URLS", "DATABASE_REPLICA_URLS"),
    )
    database_pool_size: int = Field(
        default=10, ge=1, le=1000, validation_alias=alias("WALLETSYNC_DATABASE_POOL_SIZE")
    )
    database_max_overflow: int = Field(
        default=10, ge=0, le=1000, validation_alias=alias("WALLETSYNC_DATABASE_MAX_OVERFLOW")
    )
    database_pool_timeout_s: float = Field(
        default=30.0, gt=0, validation_alias=alias("WALLETSYNC_DATABASE_POOL_TIMEOUT")
    )
    database_pool_recycle_s: int = Field(
        default=1800, ge=-1, validation_alias=alias("WALLETSYNC_DATABASE_POOL_RECYCLE")
    )
    # A replica whose replay is further behind than this is skipped (reads go elsewhere).
    replica_max_lag_s: float = Field(
        default=5.0, gt=0, le=3600, validation_alias=alias("WALLETSYNC_REPLICA_MAX_LAG")
    )
    database_pgbouncer: bool = Field(default=False, validation_alias=alias("WALLETSYNC_DATABASE_PGBOUNCER"))
    # A session (not transaction-pooled) connection to the same database, for what needs one:
    # migrations under their advisory lock, per-wallet sync locks, and the job queue (LISTEN/NOTIFY).
    database_direct_url: str | None = Field(
        default=None,
        validate_default=True,
        validation_alias=alias("WALLETSYNC_DATABASE_DIRECT_URL", "DATABASE_DIRECT_URL"),
    )
    auto_migrate: bool = Field(default=True, validation_alias=alias("WALLETSYNC_AUTO_MIGRATE"))
    data_dir: Path = Field(
        default_factory=lambda: Path(platformdirs.user_data_dir("walletsync")),
        validation_alias=alias("WALLETSYNC_DATA_DIR"),
    )

    @field_validator("database_replica_urls", mode="before")
    @classmethod
    def _split_replica_urls(cls, value: object) -> object:
        return split_commas(value)

    @field_validator("database_url", "database_direct_url", mode="before")
    @classmethod
    def _database_empty_is_unset(cls, value: object) -> object:
        return empty_is_unset(value)

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
