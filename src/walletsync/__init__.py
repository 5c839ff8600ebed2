"""walletsync: a self-hosted wallet indexer and portfolio API for Solana and Cardano."""

# The one place the version is written (pyproject.toml reads it through hatch): a constant rather
# than importlib.metadata, whose import (email, zipfile, csv) was a visible part of every command's
# start-up.
__version__ = "0.1.0"

__all__ = ["__version__"]
