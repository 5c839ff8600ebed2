"""HTTP API settings: public reads, the Cardano network addresses must belong to, /metrics and /docs
exposure, CORS, body size, rate limits and the proxies trusted to name the client.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from walletsync.config.fields import CommaList, alias, split_commas

_ORIGIN = re.compile(r"https?://[^/\s?#]+")


class ApiSettings(BaseModel):
    """`WALLETSYNC_PUBLIC_READS`, `WALLETSYNC_CARDANO_NETWORK`, `WALLETSYNC_METRICS_PUBLIC`, `WALLETSYNC_DOCS_ENABLED`,
    `WALLETSYNC_CORS_ORIGINS`, `WALLETSYNC_MAX_BODY_BYTES`, `WALLETSYNC_API_*`, `WALLETSYNC_TRUSTED_PROXIES`."""

    public_reads: bool = Field(default=False, validation_alias=alias("WALLETSYNC_PUBLIC_READS"))
    # The Cardano network this instance indexes: wallet addresses of another network are refused.
    cardano_network: Literal["mainnet", "preprod", "preview"] = Field(
        default="mainnet", validation_alias=alias("WALLETSYNC_CARDANO_NETWORK")
    )
    # Off by default, safe on a public bind: /metrics then needs a key (read scope or better).
    metrics_public: bool = Field(default=False, validation_alias=alias("WALLETSYNC_METRICS_PUBLIC"))
    docs_enabled: bool = Field(default=True, validation_alias=alias("WALLETSYNC_DOCS_ENABLED"))
    cors_origins: CommaList = Field(default_factory=list, validation_alias=alias("WALLETSYNC_CORS_ORIGINS"))
    max_body_bytes: int = Field(
        default=1_048_576, ge=1024, validation_alias=alias("WALLETSYNC_MAX_BODY_BYTES")
    )
    api_rate_limit: str = Field(default="600/minute", validation_alias=alias("WALLETSYNC_API_RATE_LIMIT"))
    # Requests that need a key looked up (or carry none) spend this per client address first.
    api_auth_rate_limit: str = Field(
        default="120/minute", validation_alias=alias("WALLETSYNC_API_AUTH_RATE_LIMIT")
    )
    # Peers (addresses or CIDR blocks) whose X-Forwarded-For names the client; no one by default.
    trusted_proxies: CommaList = Field(
        default_factory=list, validation_alias=alias("WALLETSYNC_TRUSTED_PROXIES")
    )

    @field_validator("cors_origins", "trusted_proxies", mode="before")
    @classmethod
    def _split_api_lists(cls, value: object) -> object:
        return split_commas(value)

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
