"""The provider's daily credit budget, counted in PostgreSQL so every process shares one count.

Twelve Data's free plan allows 8 credits a minute and 800 a day. The per-minute limit is the resilient
client's rate limiter; the daily one is here. Why the database and not Redis: Redis is optional in
walletsync (the cache falls back to in-process memory), while PostgreSQL is always there and is
already what API, workers and CLI share; one atomic upsert per call is cheap next to an HTTP request.

Credits are reserved *before* a call: a call that then fails at the network level still counts,
which errs on the side of never overrunning the provider's quota. Days are UTC days, as Twelve Data's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import structlog
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from walletsync.db.engine import Database
from walletsync.db.models import provider_credits
from walletsync.market.errors import CreditBudgetExhaustedError

log = structlog.get_logger(__name__)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class CreditUsage:
    provider: str
    day: date
    used: int
    limit: int

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    @property
    def resets_at(self) -> datetime:
        return datetime.combine(self.day + timedelta(days=1), time(0), tzinfo=UTC)


class CreditBudget:
    """`spend(n)` reserves n of today's credits or raises `CreditBudgetExhaustedError`."""

    def __init__(
        self, db: Database, *, limit: int, provider: str = "twelvedata", clock: Clock = utc_now
    ) -> None:
        self._db = db
        self._limit = limit
        self._provider = provider
        self._clock = clock

    @property
    def limit(self) -> int:
        return self._limit

    def today(self) -> date:
        return self._clock().astimezone(UTC).date()

    def _exhausted(self, day: date, used: int) -> CreditBudgetExhaustedError:
        usage = CreditUsage(self._provider, day, used, self._limit)
        return CreditBudgetExhaustedError(
            f"{self._provider}: the daily budget of {self._limit} credits is used up for {day.isoformat()}"
            f" (UTC); market data sync resumes after {usage.resets_at.isoformat()}",
            resets_at=usage.resets_at,
        )

    async def spend(self, credits: int = 1) -> CreditUsage:
        """Reserve `credits` of today's budget atomically; raise when that would exceed the limit."""
        day = self.today()
        if credits > self._limit:
            raise self._exhausted(day, 0)
        insert = pg_insert(provider_credits).values(provider=self._provider, day=day, used=credits)
        stmt = insert.on_conflict_do_update(
            index_elements=[provider_credits.c.provider, provider_credits.c.day],
            set_={"used": provider_credits.c.used + insert.excluded.used, "updated_at": func.now()},
            where=provider_credits.c.used + insert.excluded.used <= self._limit,
        ).returning(provider_credits.c.used)
        async with self._db.write() as conn:
            used = await conn.scalar(stmt)
        if used is None:
            log.warning("market.credits.exhausted", provider=self._provider, day=day.isoformat())
            raise self._exhausted(day, self._limit)
        return CreditUsage(self._provider, day, int(used), self._limit)

    async def exhaust(self) -> CreditUsage:
        """Mark today's budget used up (the provider said so, whatever our count was)."""
        day = self.today()
        stmt = pg_insert(provider_credits).values(provider=self._provider, day=day, used=self._limit)
        stmt = stmt.on_conflict_do_update(
            index_elements=[provider_credits.c.provider, provider_credits.c.day],
            set_={"used": func.greatest(provider_credits.c.used, self._limit), "updated_at": func.now()},
        )
        async with self._db.write() as conn:
            await conn.execute(stmt)
        return await self.usage()

    async def usage(self) -> CreditUsage:
        day = self.today()
        async with self._db.read() as conn:
            used = await conn.scalar(
                select(provider_credits.c.used).where(
                    provider_credits.c.provider == self._provider, provider_credits.c.day == day
                )
            )
        return CreditUsage(self._provider, day, int(used or 0), self._limit)

    async def catalogs_refreshed_today(self) -> bool:
        day = self.today()
        async with self._db.read() as conn:
            refreshed = await conn.scalar(
                select(provider_credits.c.catalogs_refreshed_at).where(
                    provider_credits.c.provider == self._provider, provider_credits.c.day == day
                )
            )
        return refreshed is not None

    async def mark_catalogs_refreshed(self) -> None:
        day = self.today()
        now = self._clock()
        stmt = pg_insert(provider_credits).values(
            provider=self._provider, day=day, used=0, catalogs_refreshed_at=now
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[provider_credits.c.provider, provider_credits.c.day],
            set_={"catalogs_refreshed_at": now, "updated_at": func.now()},
        )
        async with self._db.write() as conn:
            await conn.execute(stmt)
