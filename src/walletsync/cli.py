"""The `walletsync` command (placeholder until the CLI lands in this commit series)."""

from __future__ import annotations


def main() -> None:
    raise SystemExit("walletsync CLI is being built")
