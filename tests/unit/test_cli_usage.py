"""Usage errors are one line (keeping click's "did you mean"); help shows click-style names, no types."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import run_walletsync


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("wallet",), "error: No such command 'wallet'. Did you mean 'wallets'? (see `walletsync --help`)"),
        (
            ("wallets", "add", "--chian", "solana", "X"),
            "error: No such option: --chian (Possible options: --chain) (see `walletsync wallets add --help`)",
        ),
        (("wallets", "add"), "error: Missing argument 'address'. (see `walletsync wallets add --help`)"),
        (
            ("wallets", "add", "X", "--chain", "nope"),
            "error: Invalid value for '--chain' / '-c': 'nope' is not one of 'solana', 'cardano'. "
            "(see `walletsync wallets add --help`)",
        ),
        (
            ("jobs", "retry", "abc"),
            "error: Invalid value for 'job_id': Input should be a valid integer, unable to parse string as an "
            "integer (see `walletsync jobs retry --help`)",
        ),
    ],
)
def test_usage_errors_are_one_line(args: tuple[str, ...], expected: str, tmp_path: Path) -> None:
    """Exit 2, exactly one stderr line, nothing on stdout, no box drawing."""
    result = run_walletsync(*args, cwd=tmp_path, timeout=60)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [expected]
    assert result.stdout == ""


def test_help_is_clean(tmp_path: Path) -> None:
    """Usage lines name arguments in capitals; flags carry no `<bool>`, values no Python types."""
    result = run_walletsync("wallets", "add", "--help", cwd=tmp_path, timeout=60)
    assert result.returncode == 0
    out = result.stdout
    assert "Usage: walletsync wallets add [OPTIONS] ADDRESS" in out
    assert "{address}" not in out
    assert "<bool>" not in out
    assert "<str>" not in out
    assert "TEXT" in out  # --label TEXT, as click writes it


def test_group_without_command_shows_its_help(tmp_path: Path) -> None:
    """`walletsync wallets` alone: the group's help on stdout, exit 2 (as before), nothing on stderr."""
    result = run_walletsync("wallets", cwd=tmp_path, timeout=60)
    assert result.returncode == 2
    assert "Usage: walletsync wallets [OPTIONS] COMMAND [ARGS]..." in result.stdout
    assert result.stderr == ""
