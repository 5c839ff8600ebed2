"""Read replicas: which one may serve a read right now.

A replica serves a read only when it (1) accepts connections (one that fails is skipped for
`REPLICA_RETRY_AFTER_S`), (2) lags the primary by at most `WALLETSYNC_REPLICA_MAX_LAG` seconds, and (3) has
replayed the WAL up to the position the read must see, when one is required. (3) is what makes
read-your-writes hold across processes: whoever writes records the primary's WAL position with its
cache invalidation (`cache.py`), and a read of that wallet passes it here through `reading_after()`.
Otherwise the read goes to the next replica, and finally to the primary.

Lag and replay position are measured on the connection about to serve the read, at most once per
`PROBE_INTERVAL_S` per replica, or at once when a required position is beyond the last one seen
(replay only moves forward, so a position already passed needs no new probe). Lag is
`now() - pg_last_xact_replay_timestamp()` while received WAL is still unapplied, else 0: an idle
primary does not make its replicas look late. It compares the replica's clock with the primary's commit
times, so clock skew between the two adds to it.

Written here rather than taken from a library: SQLAlchemy routes nothing by itself, and pgpool-II
or a proxy would add a network hop and still not know a client's write position.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import itertools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal

import structlog
from prometheus_client import Counter, Gauge
from sqlalchemy import BigInteger, case, extract, func, literal, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = structlog.get_logger(__name__)

REPLICA_RETRY_AFTER_S = 30.0  # a replica that failed to connect is skipped this long
PROBE_INTERVAL_S = 1.0  # lag is re-measured at most this often per replica on the read path
PROBE_TIMEOUT_S = 2.0  # /readyz probes every replica at once, each within this

REPLICA_LAG = Gauge(
    "walletsync_db_replica_lag_seconds", "Replay lag of a read replica as last measured.", ["replica"]
)
READ_ROUTES = Counter(
    "walletsync_db_reads_total",
    "Read units of work by where they ran: replica, or primary_<why>: no_replica (none configured), "
    "down, lagging, behind_write (no usable replica had replayed the write the read must see).",
    ["target"],
)

# The WAL position (bytes, as pg_lsn - '0/0') the reads of the current task must see; 0: any.
_required_lsn: contextvars.ContextVar[int] = contextvars.ContextVar("walletsync_required_lsn", default=0)


@contextmanager
def reading_after(lsn: int | None) -> Iterator[None]:
    """Reads inside the block (this task and tasks it starts) see every write up to WAL `lsn`."""
    token = _required_lsn.set(max(lsn or 0, _required_lsn.get()))
    try:
        yield
    finally:
        _required_lsn.reset(token)


def required_lsn() -> int:
    return _required_lsn.get()


# pg_lsn arrives from asyncpg as an int (bytes since 0/0), which is how positions are compared here.
_PROBE = select(
    func.pg_is_in_recovery(),
    func.pg_last_wal_replay_lsn(type_=BigInteger),
    case(
        (func.pg_last_wal_receive_lsn() == func.pg_last_wal_replay_lsn(), literal(0)),
        else_=extract("epoch", func.now() - func.pg_last_xact_replay_timestamp()),
    ),
    case((func.pg_is_in_recovery(), func.pg_is_wal_replay_paused()), else_=literal(False)),
)


def replica_name(url: str) -> str:
    """`host:port/database` of a replica URL: what logs and /readyz show (never the password)."""
    parsed = make_url(url)
    return f"{parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database or ''}"


@dataclass(frozen=True, slots=True)
class ReplicaStatus:
    """One replica as /readyz reports it."""

    label: str  # replica0, replica1, ... (the metrics label)
    name: str  # host:port/database
    usable: bool
    detail: str


@dataclass
class Replica:
    label: str
    name: str
    engine: AsyncEngine
    failed_at: float | None = None
    error: str | None = None
    standby: bool = True  # False: the server is not in recovery (a primary or a logical copy)
    replay_lsn: int | None = None
    lag_s: float | None = None
    paused: bool = False
    checked_at: float | None = None

    def down(self, now: float) -> bool:
        return self.failed_at is not None and now - self.failed_at <= REPLICA_RETRY_AFTER_S

    def lagging(self, max_lag_s: float) -> bool:
        return self.lag_s is not None and self.lag_s > max_lag_s

    def has_replayed(self, lsn: int) -> bool:
        # A server that is not a standby has no replay position to compare: only reads that need
        # no particular write may use it.
        return lsn <= 0 or (self.standby and self.replay_lsn is not None and self.replay_lsn >= lsn)

    def mark_down(self, exc: BaseException) -> None:
        first = self.failed_at is None
        self.failed_at = time.monotonic()
        self.error = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
        if first:
            log.warning("db.replica.down", replica=self.label, name=self.name, error=self.error)

    async def probe(self, conn: AsyncConnection) -> None:
        """Measure lag and replay position on `conn`, then end the transaction the query began."""
        in_recovery, lsn, lag, paused = (await conn.execute(_PROBE)).one()
        await conn.rollback()
        self.standby = bool(in_recovery)
        self.replay_lsn = int(lsn) if lsn is not None else None
        self.lag_s = float(lag) if isinstance(lag, Decimal | float | int) else None
        self.paused = bool(paused)
        self.checked_at = time.monotonic()
        if self.failed_at is not None:
            log.info("db.replica.recovered", replica=self.label, name=self.name)
        self.failed_at = self.error = None
        REPLICA_LAG.labels(self.label).set(self.lag_s or 0.0)

    def status(self, max_lag_s: float, now: float) -> ReplicaStatus:
        if self.down(now):
            return ReplicaStatus(self.label, self.name, False, f"down ({self.error}), skipped")
        if self.checked_at is None:
            return ReplicaStatus(self.label, self.name, True, "not measured yet")
        paused = ", replay paused" if self.paused else ""
        if self.lagging(max_lag_s):
            detail = (
                f"lagging {self.lag_s:.1f} s (> WALLETSYNC_REPLICA_MAX_LAG {max_lag_s:g} s){paused}, skipped"
            )
            return ReplicaStatus(self.label, self.name, False, detail)
        if not self.standby:
            return ReplicaStatus(self.label, self.name, True, "not a streaming standby: lag unknown")
        lag = f"{self.lag_s:.1f} s" if self.lag_s is not None else "unknown"
        return ReplicaStatus(self.label, self.name, True, f"ok, lag {lag}{paused}")


class ReplicaSet:
    """The process's replicas in round-robin order, with the rules of the module docstring."""

    def __init__(
        self, replicas: list[Replica], *, max_lag_s: float, clock: Callable[[], float] = time.monotonic
    ):
        self.replicas = replicas
        self.max_lag_s = max_lag_s
        self._clock = clock
        self._next = itertools.count()

    def __len__(self) -> int:
        return len(self.replicas)

    def _rotation(self) -> list[Replica]:
        start = next(self._next) % len(self.replicas)
        return self.replicas[start:] + self.replicas[:start]

    async def connect(self) -> AsyncConnection | None:
        """A connection to a replica allowed to serve the current read, or None: use the primary."""
        if not self.replicas:
            READ_ROUTES.labels("primary_no_replica").inc()
            return None
        need = required_lsn()
        reason = "primary_down"
        for replica in self._rotation():
            now = self._clock()
            if replica.down(now):
                continue
            stale = replica.checked_at is None or now - replica.checked_at >= PROBE_INTERVAL_S
            if replica.lagging(self.max_lag_s) and not stale:
                reason = "primary_lagging"
                continue
            try:
                conn = await replica.engine.connect()
            except Exception as exc:  # noqa: BLE001 - any connect failure means "skip this replica"
                replica.mark_down(exc)
                continue
            try:
                if stale or not replica.has_replayed(need):
                    await replica.probe(conn)
            except Exception as exc:  # noqa: BLE001 - a replica that cannot answer the probe is down
                replica.mark_down(exc)
                await _close_quietly(conn)
                continue
            if replica.lagging(self.max_lag_s):
                reason = "primary_lagging"
            elif not replica.has_replayed(need):
                reason = "primary_behind_write"
            else:
                READ_ROUTES.labels("replica").inc()
                return conn
            await _close_quietly(conn)
        READ_ROUTES.labels(reason).inc()
        return None

    async def statuses(self) -> list[ReplicaStatus]:
        """Probe every replica now (for /readyz) and report each."""
        await asyncio.gather(*(self._probe_now(replica) for replica in self.replicas))
        now = self._clock()
        return [replica.status(self.max_lag_s, now) for replica in self.replicas]

    async def _probe_now(self, replica: Replica) -> None:
        try:
            async with asyncio.timeout(PROBE_TIMEOUT_S), replica.engine.connect() as conn:
                await replica.probe(conn)
        except Exception as exc:  # noqa: BLE001 - any failure is reported as "down"
            replica.mark_down(exc)

    async def dispose(self) -> None:
        for replica in self.replicas:
            await replica.engine.dispose()


async def _close_quietly(conn: AsyncConnection) -> None:
    # A broken connection is discarded by the pool either way.
    with contextlib.suppress(Exception):
        await conn.close()
