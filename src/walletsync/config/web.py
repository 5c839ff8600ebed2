"""Web dashboard settings: on or off, how long a session lasts, and the explorer links it shows."""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator

from walletsync.config.fields import alias


class WebSettings(BaseModel):
    """`WALLETSYNC_DASHBOARD_*`, `WALLETSYNC_EXPLORER_TX_URL_*`."""

    dashboard_enabled: bool = Field(default=True, validation_alias=alias("WALLETSYNC_DASHBOARD_ENABLED"))
    dashboard_session_ttl_s: int = Field(
        default=43_200, ge=60, le=30 * 86_400, validation_alias=alias("WALLETSYNC_DASHBOARD_SESSION_TTL")
    )
    explorer_tx_url_solana: str = Field(
        default="https://explorer.solana.com/tx/{tx_id}",
        validation_alias=alias("WALLETSYNC_EXPLORER_TX_URL_SOLANA"),
    )
    explorer_tx_url_cardano: str = Field(
        default="https://cardanoscan.io/transaction/{tx_id}",
        validation_alias=alias("WALLETSYNC_EXPLORER_TX_URL_CARDANO"),
    )

    @field_validator("explorer_tx_url_solana", "explorer_tx_url_cardano")
    @classmethod
    def _explorer_template(cls, value: str) -> str:
        value = value.strip()
        if value and ("{tx_id}" not in value or not value.startswith(("https://", "http://"))):
            raise ValueError("must be an http(s) URL containing {tx_id}, or empty for no links")
        return value
