"""Event settings: webhook targets, timeouts and concurrency, the outbox's replay window, readiness,
live-stream limits, and whether `serve` and `worker` run the relay (see `walletsync/events/`).
"""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator

from walletsync.config.fields import alias

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class EventSettings(BaseModel):
    """`WALLETSYNC_WEBHOOK_*`, `WALLETSYNC_EVENT_RETENTION`, `WALLETSYNC_EVENTS_*`."""

    # Webhook targets on private, loopback or link-local addresses are refused unless this is true.
    webhook_allow_private: bool = Field(
        default=False, validation_alias=alias("WALLETSYNC_WEBHOOK_ALLOW_PRIVATE")
    )
    webhook_timeout_s: float = Field(
        default=10.0, gt=0, le=60, validation_alias=alias("WALLETSYNC_WEBHOOK_TIMEOUT")
    )
    # Webhook POSTs in flight per relay (each webhook and wallet still gets one at a time, in order).
    webhook_concurrency: int = Field(
        default=16, ge=1, le=256, validation_alias=alias("WALLETSYNC_WEBHOOK_CONCURRENCY")
    )
    # Replay window of the outbox: events older than this are pruned once every delivery is final.
    event_retention_s: int = Field(
        default=7 * 86400, ge=60, validation_alias=alias("WALLETSYNC_EVENT_RETENTION")
    )
    # /readyz degrades when an event has waited longer than this for its webhook deliveries.
    events_ready_max_age_s: float = Field(
        default=600.0, gt=0, validation_alias=alias("WALLETSYNC_EVENTS_READY_MAX_AGE")
    )
    # Live streams (SSE and WebSocket): connections per API key, and events buffered per client
    # before a client too slow to read them is disconnected.
    events_stream_max_per_key: int = Field(
        default=10, ge=1, le=10_000, validation_alias=alias("WALLETSYNC_EVENTS_STREAM_MAX_PER_KEY")
    )
    events_stream_buffer: int = Field(
        default=1000, ge=10, le=1_000_000, validation_alias=alias("WALLETSYNC_EVENTS_STREAM_BUFFER")
    )
    # Run the outbox relay inside `serve` and `worker` (false: only the periodic job relays).
    events_relay: bool = Field(default=True, validation_alias=alias("WALLETSYNC_EVENTS_RELAY"))

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
