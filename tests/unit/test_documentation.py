"""Docs stay in step with the code: every setting is in .env.example and in the README."""

from __future__ import annotations

import re
from pathlib import Path

from walletsync.config import Settings, env_names

ROOT = Path(__file__).resolve().parents[2]


def _env_names() -> set[str]:
    names: set[str] = set()
    for field in Settings.model_fields:
        names.add(env_names(field)[0])
    return names


def test_every_setting_is_in_env_example() -> None:
    """Each environment variable Settings reads has a line in .env.example, and nothing stale is there."""
    documented = set(re.findall(r"^([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M))
    assert _env_names() - documented == set()
    assert documented - _env_names() == set()


def test_every_setting_is_in_readme() -> None:
    """The README's configuration table names every environment variable."""
    readme = (ROOT / "README.md").read_text()
    missing = {name for name in _env_names() if f"`{name}`" not in readme}
    assert missing == set()
