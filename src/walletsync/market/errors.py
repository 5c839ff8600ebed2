"""Errors of the market data package, each carrying its HTTP status (see `walletsync.errors`)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from walletsync.errors import InvalidInputError, NotFoundError, WalletsyncError

if TYPE_CHECKING:
    from walletsync.market.sync import PriceSyncReport


class UnknownSymbolError(NotFoundError):
    title = "Unknown symbol"


class UnsupportedIntervalError(InvalidInputError):
    title = "Unsupported interval"


class CreditBudgetExhaustedError(WalletsyncError):
    """Today's share of the provider's daily credits is used up; work resumes after `resets_at`."""

    status = 503
    title = "Daily credit budget exhausted"

    def __init__(self, detail: str, *, resets_at: datetime) -> None:
        super().__init__(detail)
        self.resets_at = resets_at


class PriceSyncError(WalletsyncError):
    """A price sync finished, but some calls failed; `report` says what was stored and what failed."""

    status = 502
    title = "Price sync failed"

    def __init__(self, report: PriceSyncReport) -> None:
        lines = "; ".join(f"{e.scope}: {e.message}" for e in report.errors)
        super().__init__(f"price sync finished with {len(report.errors)} error(s): {lines}")
        self.report = report
