"""Every environment variable walletsync reads, in one pydantic-settings object.

Nothing else in walletsync reads `os.environ`: code receives a `Settings` (usually from
`get_settings()`), and tests build their own. Invalid values fail at start: `load_settings()` turns a
validation error into a `ConfigError` whose message names the variable on one line.

`Settings` (`settings.py`) is composed of one group per area, each declaring its fields and checks:
`database`, `cache`, `logs`, `providers`, `market`, `jobs`, `api`, `web`, `events` (building blocks
in `fields`). Importers use `walletsync.config` only.
"""

from __future__ import annotations

from walletsync.chain import Chain
from walletsync.config.providers import ProviderConfig
from walletsync.config.settings import (
    LEGACY_NAMES,
    Settings,
    env_name,
    env_names,
    get_settings,
    legacy_names_set,
    load_settings,
)

__all__ = [
    "LEGACY_NAMES",
    "Chain",  # re-exported: the rest of the code imports it from here
    "ProviderConfig",
    "Settings",
    "env_name",
    "env_names",
    "get_settings",
    "legacy_names_set",
    "load_settings",
]
