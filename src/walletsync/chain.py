"""The chains walletsync indexes: a module of its own so the command line can name them in its
options without importing the settings machinery (pydantic) that `config` needs."""

from __future__ import annotations

from enum import StrEnum


class Chain(StrEnum):
    SOLANA = "solana"
    CARDANO = "cardano"
