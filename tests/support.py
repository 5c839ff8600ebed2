"""Running walletsync as a user would: a subprocess with a clean environment.

The parent test process may have walletsync settings in its environment (a developer's `.env`
exports, CI's variables); a subprocess under test gets none of them except what the test passes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

SETTING_PREFIXES = ("WALLETSYNC_", "DATABASE_", "SOLANA_", "BLOCKFROST_", "TWELVEDATA_", "REDIS_", "PRICE_")
WALLETSYNC = (sys.executable, "-m", "walletsync.cli")


def clean_env(**settings: str) -> dict[str, str]:
    """This process's environment without any walletsync setting, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(SETTING_PREFIXES)}
    env.update(settings)
    return env


def run_walletsync(
    *args: str, cwd: Path, timeout: float = 300, **settings: str
) -> subprocess.CompletedProcess[str]:
    """`walletsync ARGS` to completion (wide terminal, so tables do not wrap), output captured."""
    return subprocess.run(
        [*WALLETSYNC, *args],
        env=clean_env(COLUMNS="250", **settings),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_against(
    database_url: str, data_dir: Path, *args: str, **settings: str
) -> subprocess.CompletedProcess[str]:
    """`walletsync ARGS` on an already migrated test database, no Redis unless `settings` names one."""
    defaults = {
        "WALLETSYNC_DATABASE_URL": database_url,
        "WALLETSYNC_AUTO_MIGRATE": "false",
        "WALLETSYNC_DATA_DIR": str(data_dir),
        "WALLETSYNC_REDIS_URL": "",
    }
    return run_walletsync(*args, cwd=data_dir, timeout=120, **{**defaults, **settings})


def start_walletsync(*args: str, cwd: Path | None = None, **popen: Any) -> subprocess.Popen[Any]:
    """`walletsync ARGS` in the background; `env` (from `clean_env`) and other Popen options pass through."""
    return subprocess.Popen([*WALLETSYNC, *args], cwd=cwd, **popen)
