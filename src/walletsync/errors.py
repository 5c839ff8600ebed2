"""The one error base class of walletsync; every domain error subclasses it and carries its HTTP status.

`api/` renders any `WalletsyncError` as a problem-details response; the CLI prints its message on one
line and exits with `exit_code`.
"""

from __future__ import annotations


class WalletsyncError(Exception):
    """Base of every error walletsync raises on purpose."""

    status: int = 500
    title: str = "Internal error"
    exit_code: int = 1

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class ConfigError(WalletsyncError):
    """A setting is missing or invalid."""

    status = 500
    title = "Configuration error"
    exit_code = 2


class NotFoundError(WalletsyncError):
    status = 404
    title = "Not found"
    exit_code = 3


class ConflictError(WalletsyncError):
    status = 409
    title = "Conflict"
    exit_code = 4


class InvalidInputError(WalletsyncError):
    status = 422
    title = "Invalid input"
    exit_code = 2
