"""walletsync: a self-hosted wallet indexer and portfolio API for Solana and Cardano."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("walletsync")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

__all__ = ["__version__"]
