"""Settings: defaults, parsing, and one-line errors that name the variable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from walletsync.config import Settings, load_settings
from walletsync.errors import ConfigError


def test_defaults_need_no_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """With nothing set, walletsync runs embedded, in-process cache, simulator providers."""
    monkeypatch.chdir(tmp_path)  # no .env here
    settings = load_settings()
    assert settings.database_url is None
    assert settings.redis_url is None
    assert settings.uses_simulator
    assert settings.database_pool_size == 10
    assert settings.price_intervals == ["1h", "1day"]


def test_comma_separated_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    """URL lists are comma separated, trimmed, trailing slashes dropped."""
    monkeypatch.setenv("SOLANA_RPC_URLS", " https://a.example/ , https://b.example/rpc")
    monkeypatch.setenv("DATABASE_REPLICA_URLS", "postgresql://r1/db,postgresql://r2/db")
    settings = load_settings()
    assert settings.solana_rpc_urls == ["https://a.example", "https://b.example/rpc"]
    assert settings.database_replica_urls == ["postgresql://r1/db", "postgresql://r2/db"]
    assert not settings.uses_simulator


@pytest.mark.parametrize(
    ("var", "value", "expected"),
    [
        ("DATABASE_POOL_SIZE", "-1", "DATABASE_POOL_SIZE: Input should be greater than or equal to 1"),
        ("DATABASE_POOL_SIZE", "many", "DATABASE_POOL_SIZE: Input should be a valid integer"),
        ("WALLETSYNC_LOG_FORMAT", "xml", "WALLETSYNC_LOG_FORMAT: Input should be 'json' or 'console'"),
        ("REDIS_URL", "http://x", "REDIS_URL: Value error, must be a redis://"),
        ("SOLANA_RPC_URLS", "ftp://x", "SOLANA_RPC_URLS: Value error, 'ftp://x' is not an http(s) URL"),
        ("WALLETSYNC_AUTO_MIGRATE", "perhaps", "WALLETSYNC_AUTO_MIGRATE: Input should be a valid boolean"),
    ],
)
def test_invalid_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str, expected: str
) -> None:
    """A bad value raises ConfigError whose single-line message starts with the variable name."""
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = caught.value.detail
    assert message.startswith(expected)
    assert "\n" not in message


def test_secrets_are_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    """An invalid URL that may carry a password is named but not repeated."""
    monkeypatch.setenv("DATABASE_URL", "mysql://user:hunter2@host/db")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert caught.value.detail.startswith("DATABASE_URL:")
    assert "hunter2" not in caught.value.detail


def test_provider_config_maps_twelvedata_per_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    """Twelve Data's per-minute credits become a per-second token rate."""
    monkeypatch.setenv("TWELVEDATA_RATE_PER_MIN", "8")
    config = Settings().provider_config("twelvedata")
    assert config.rate == pytest.approx(8 / 60)
    assert config.burst == 8
    assert Settings().provider_config("blockfrost").burst == 500


def test_cli_bad_config_exits_with_one_line(tmp_path: Path) -> None:
    """`walletsync migrate status` with a bad pool size exits 2 and prints one line naming it."""
    env = {"PATH": str(Path(sys.executable).parent), "DATABASE_POOL_SIZE": "-1", "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "walletsync.cli", "migrate", "status"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == ["error: DATABASE_POOL_SIZE: Input should be greater than or equal to 1 (got '-1')"]


def test_pgbouncer_requires_a_direct_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """Transaction pooling cannot carry session locks or LISTEN: DATABASE_DIRECT_URL must be given."""
    monkeypatch.setenv("DATABASE_URL", "postgresql://app@pgbouncer:6432/walletsync")
    monkeypatch.setenv("DATABASE_PGBOUNCER", "true")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert caught.value.detail.startswith(
        "DATABASE_DIRECT_URL: Value error, required when DATABASE_PGBOUNCER=true"
    )
    monkeypatch.setenv("DATABASE_DIRECT_URL", "postgresql://app@postgres:5432/walletsync")
    assert load_settings().database_direct_url == "postgresql://app@postgres:5432/walletsync"
