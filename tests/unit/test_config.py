"""Settings: defaults, parsing, and one-line errors that name the variable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from walletsync.cli.common import warn_legacy_names
from walletsync.config import Settings, env_names, legacy_names_set, load_settings
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
        (
            "WALLETSYNC_DATABASE_POOL_SIZE",
            "-1",
            "WALLETSYNC_DATABASE_POOL_SIZE: Input should be greater than or equal to 1",
        ),
        (
            "WALLETSYNC_DATABASE_POOL_SIZE",
            "many",
            "WALLETSYNC_DATABASE_POOL_SIZE: Input should be a valid integer",
        ),
        (
            "WALLETSYNC_LOG_FORMAT",
            "xml",
            "WALLETSYNC_LOG_FORMAT: Input should be 'auto', 'json' or 'console'",
        ),
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
    monkeypatch.setenv("WALLETSYNC_TWELVEDATA_RATE_PER_MIN", "8")
    config = Settings().provider_config("twelvedata")
    assert config.rate == pytest.approx(8 / 60)
    assert config.burst == 8
    assert Settings().provider_config("blockfrost").burst == 500


def test_cli_bad_config_exits_with_one_line(tmp_path: Path) -> None:
    """`walletsync migrate status` with a bad pool size exits 2 and prints one line naming it."""
    env = {
        "PATH": str(Path(sys.executable).parent),
        "WALLETSYNC_DATABASE_POOL_SIZE": "-1",
        "HOME": str(tmp_path),
    }
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
    assert lines == [
        "error: WALLETSYNC_DATABASE_POOL_SIZE: Input should be greater than or equal to 1 (got '-1')"
    ]


def test_pgbouncer_requires_a_direct_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """Transaction pooling cannot carry session locks or LISTEN: DATABASE_DIRECT_URL must be given."""
    monkeypatch.setenv("DATABASE_URL", "postgresql://app@pgbouncer:6432/walletsync")
    monkeypatch.setenv("WALLETSYNC_DATABASE_PGBOUNCER", "true")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert caught.value.detail.startswith(
        "WALLETSYNC_DATABASE_DIRECT_URL: Value error, required when WALLETSYNC_DATABASE_PGBOUNCER=true"
    )
    monkeypatch.setenv("DATABASE_DIRECT_URL", "postgresql://app@postgres:5432/walletsync")
    assert load_settings().database_direct_url == "postgresql://app@postgres:5432/walletsync"


PLAIN_ALIASES = {
    "database_url": "DATABASE_URL",
    "database_direct_url": "DATABASE_DIRECT_URL",
    "database_replica_urls": "DATABASE_REPLICA_URLS",
    "redis_url": "REDIS_URL",
    "solana_rpc_urls": "SOLANA_RPC_URLS",
    "blockfrost_urls": "BLOCKFROST_URLS",
    "twelvedata_urls": "TWELVEDATA_URLS",
}


def test_every_setting_is_prefixed() -> None:
    """Every variable is WALLETSYNC_...; only the connection URLs also keep a plain name."""
    for field in Settings.model_fields:
        names = env_names(field)
        assert names[0].startswith("WALLETSYNC_"), field
        plain = PLAIN_ALIASES.get(field)
        assert names == ((names[0], plain) if plain else (names[0],)), field


@pytest.mark.parametrize(
    ("plain", "value", "field", "expected"),
    [
        ("DATABASE_URL", "postgresql://a@h/db", "database_url", "postgresql://a@h/db"),
        ("DATABASE_DIRECT_URL", "postgresql://d@h/db", "database_direct_url", "postgresql://d@h/db"),
        ("DATABASE_REPLICA_URLS", "postgresql://r@h/db", "database_replica_urls", ["postgresql://r@h/db"]),
        ("REDIS_URL", "redis://h:6379/3", "redis_url", "redis://h:6379/3"),
        ("SOLANA_RPC_URLS", "https://rpc.example", "solana_rpc_urls", ["https://rpc.example"]),
        ("BLOCKFROST_URLS", "https://bf.example/api/v0", "blockfrost_urls", ["https://bf.example/api/v0"]),
        ("TWELVEDATA_URLS", "https://td.example", "twelvedata_urls", ["https://td.example"]),
    ],
)
def test_plain_url_names_are_aliases_and_the_prefix_wins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, plain: str, value: str, field: str, expected: object
) -> None:
    """DATABASE_URL and friends are read as before; WALLETSYNC_DATABASE_URL overrides DATABASE_URL."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(plain, value)
    assert getattr(load_settings(), field) == expected
    other = value.replace(".example", ".example.org").replace("@h", "@other").replace("/3", "/4")
    monkeypatch.setenv(f"WALLETSYNC_{plain}", other)
    prefixed = getattr(load_settings(), field)
    assert prefixed == (other if isinstance(expected, str) else [other.rstrip("/")])
    assert prefixed != expected


def test_unprefixed_settings_are_ignored_with_one_warning(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SYNC_INTERVAL (pre-prefix spelling) is not read, and every command says how to rename it."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SYNC_INTERVAL", "60")
    (tmp_path / ".env").write_text("WORKER_CONCURRENCY=9\nWALLETSYNC_SOLANA_RATE=3\n")
    settings = load_settings()
    assert settings.sync_interval_s == 300
    assert settings.worker_concurrency == 4
    assert settings.solana_rate == 3.0
    assert legacy_names_set() == ["SYNC_INTERVAL", "WORKER_CONCURRENCY"]
    warn_legacy_names()  # what every command's settings loading calls
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "warning: ignoring unprefixed setting(s); rename SYNC_INTERVAL -> WALLETSYNC_SYNC_INTERVAL, "
        "WORKER_CONCURRENCY -> WALLETSYNC_WORKER_CONCURRENCY"
    ]
    monkeypatch.setenv("WALLETSYNC_SYNC_INTERVAL", "60")  # renamed: the old one no longer matters
    assert legacy_names_set() == ["WORKER_CONCURRENCY"]


@pytest.mark.parametrize(
    ("var", "value", "expected"),
    [
        (
            "WALLETSYNC_PRICE_INTERVALS",
            "1h,2d",
            "WALLETSYNC_PRICE_INTERVALS: Value error, '2d' is not an interval; use 1min, 5min, 15min, 30min, "
            "45min, 1h, 2h, 4h, 8h, 1day, 1week, 1month",
        ),
        (
            "WALLETSYNC_PRICE_INTERVALS",
            ",",
            "WALLETSYNC_PRICE_INTERVALS: Value error, needs at least one interval",
        ),
        (
            "WALLETSYNC_PRICE_SYMBOLS",
            "SOL/USD,SOL USD",
            "WALLETSYNC_PRICE_SYMBOLS: Value error, 'SOL USD' is not a symbol",
        ),
        (
            "WALLETSYNC_PRICE_ASSET_MAP",
            "solana:abc",
            "WALLETSYNC_PRICE_ASSET_MAP: Value error, 'solana:abc' is not chain:asset_key=SYMBOL",
        ),
        (
            "WALLETSYNC_PRICE_ASSET_MAP",
            "bitcoin:x=BTC/USD",
            "WALLETSYNC_PRICE_ASSET_MAP: Value error, unknown chain 'bitcoin'",
        ),
        (
            "WALLETSYNC_PRICE_CRYPTO_QUOTES",
            "USD,12",
            "WALLETSYNC_PRICE_CRYPTO_QUOTES: Value error, '12' is not a currency",
        ),
        (
            "WALLETSYNC_QUOTE_CURRENCY",
            "US$",
            "WALLETSYNC_QUOTE_CURRENCY: Value error, 'US$' is not a currency",
        ),
        (
            "WALLETSYNC_PRICE_STOCK_EXCHANGES",
            "NASDAQ,/x",
            "WALLETSYNC_PRICE_STOCK_EXCHANGES: Value error, '/x' is not",
        ),
        (
            "WALLETSYNC_CORS_ORIGINS",
            "https://app.example/path",
            "WALLETSYNC_CORS_ORIGINS: Value error, 'https://app.example/path' is not an origin",
        ),
    ],
)
def test_list_settings_are_validated_at_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, var: str, value: str, expected: str
) -> None:
    """Every list setting is checked when settings load (a bad interval used to fail the price sync job)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert caught.value.detail.startswith(expected)
    assert "\n" not in caught.value.detail


def test_documented_list_values_are_valid(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Realistic values pass: stock tickers, several quotes, a token mapping, wildcard CORS."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WALLETSYNC_PRICE_SYMBOLS", "SOL/USD, ADA/EUR, AAPL, BRK.B")
    monkeypatch.setenv(
        "WALLETSYNC_PRICE_ASSET_MAP", "solana:EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v=USDC/USD"
    )
    monkeypatch.setenv("WALLETSYNC_PRICE_STOCK_EXCHANGES", "NASDAQ,NYSE")
    monkeypatch.setenv("WALLETSYNC_CORS_ORIGINS", "https://app.example,http://localhost:5173")
    settings = load_settings()
    assert settings.price_symbols == ["SOL/USD", "ADA/EUR", "AAPL", "BRK.B"]
    assert settings.cors_origins == ["https://app.example", "http://localhost:5173"]
