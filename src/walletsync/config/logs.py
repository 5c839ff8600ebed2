"""Logging settings: level and format (console lines on a terminal, JSON otherwise)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from walletsync.config.fields import alias


class LogSettings(BaseModel):
    """`WALLETSYNC_LOG_LEVEL`, `WALLETSYNC_LOG_FORMAT`."""

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", validation_alias=alias("WALLETSYNC_LOG_LEVEL")
    )
    # auto: readable console lines when stderr is a terminal, JSON lines otherwise (files, journald, docker).
    log_format: Literal["auto", "json", "console"] = Field(
        default="auto", validation_alias=alias("WALLETSYNC_LOG_FORMAT")
    )
