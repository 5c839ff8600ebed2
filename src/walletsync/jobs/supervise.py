"""Keep a Procrastinate worker running across database restarts, or exit non-zero when it cannot.

Why this exists: when PostgreSQL restarts, one of the worker's side tasks (heartbeat, LISTEN
connection, periodic deferrer) fails; Procrastinate then stops the worker *gracefully* and
`run_worker_async` returns as if asked to stop, so `walletsync worker` exited 0 after a one-second
database restart and `Restart=on-failure` never brought it back. Here the worker runs under a
supervisor that tells a requested stop (SIGINT/SIGTERM, or cancellation) from the worker ending on
its own; in the second case it waits for the database with capped exponential backoff and starts the
worker again (a new worker row; the old one's jobs, if any were left `doing`, are requeued by the
reapers once its heartbeat is stale). If the database stays unreachable for `reconnect_timeout_s`,
`DatabaseUnavailableError` ends the process with exit code 75 (EX_TEMPFAIL) so a supervisor restarts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Awaitable, Callable, Iterator
from enum import Enum
from typing import Protocol

import psycopg
import structlog

from walletsync.db.engine import libpq_url
from walletsync.errors import WalletsyncError
from walletsync.signals import termination_requested

log = structlog.get_logger(__name__)

RECONNECT_INITIAL_S = 0.5
RECONNECT_MAX_S = 10.0


class DatabaseUnavailableError(WalletsyncError):
    """PostgreSQL did not answer for longer than the worker waits for it."""

    status = 503
    title = "Database unavailable"
    exit_code = 75  # EX_TEMPFAIL: systemd's Restart=on-failure and Docker's restart policies retry


class Ended(Enum):
    STOPPED = "stopped"  # asked to stop: signal or cancellation
    DRAINED = "drained"  # wait=False and the queue is empty
    LOST = "lost"  # ended on its own (a side task or the fetch loop lost the database)


@contextlib.contextmanager
def stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    """SIGINT/SIGTERM set `stop` (running jobs then finish before the worker returns).

    A SIGTERM that `walletsync.signals` already took (it came while the process started) sets
    `stop` at once: its cancellation of the command may have been swallowed on the way here.

    The handlers found are put back afterwards: asyncio's `remove_signal_handler` would leave SIGTERM
    at its default (die on the spot: no `finally`, the embedded PostgreSQL left running).
    """
    if termination_requested():  # SIGTERM arrived while the process started: it still counts
        stop.set()
    loop = asyncio.get_running_loop()
    installed = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous = signal.getsignal(sig)
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread
            loop.add_signal_handler(sig, stop.set)
            installed[sig] = previous
    try:
        yield
    finally:
        for sig, previous in installed.items():
            loop.remove_signal_handler(sig)
            if previous is not None:  # None: set outside Python, nothing to put back
                signal.signal(sig, previous)


class Stoppable(Protocol):
    """A Procrastinate `Worker`: `run()` until `stop()` is called (running jobs then finish)."""

    async def run(self) -> None: ...

    def stop(self) -> None: ...


async def run_once(worker: Stoppable, stop: asyncio.Event, *, wait: bool) -> Ended:
    """Run the worker once; say why it ended. Cancelling this stops the worker gracefully first."""
    running = asyncio.ensure_future(worker.run())
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({running, stopper}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        await _stop(worker, running)
        raise
    finally:
        stopper.cancel()
    if not running.done():  # stop requested
        await _stop(worker, running)
        return Ended.STOPPED
    error = running.exception()
    if error is None and not wait:
        return Ended.DRAINED
    log.warning("worker.lost", error=one_line(error) if error else "a side task failed")
    return Ended.LOST


async def _stop(worker: Stoppable, running: asyncio.Future[None]) -> None:
    """Ask the worker to stop (running jobs finish) and wait for it; cancel it if this is cancelled.

    Asked, not cancelled: on Python 3.11 `asyncio.wait_for` swallows a cancellation that lands as
    its inner future completes (bpo-42130), and psycopg_pool waits for connections that way; a
    worker cancelled while it registered itself ran on after SIGTERM until it was killed. `stop()`
    sets an event the worker's loop checks. (The worker clears that event in its first step, which
    asyncio always runs before this: `running` was scheduled first.)
    """
    worker.stop()
    try:
        await asyncio.wait({running})
    except asyncio.CancelledError:
        running.cancel()  # asked again while stopping: end the running jobs too
        raise
    try:
        running.result()
    except asyncio.CancelledError:
        pass
    except Exception as exc:  # noqa: BLE001 - stopping anyway; the database may be the reason
        log.warning("worker.stop_failed", error=one_line(exc))


def one_line(exc: BaseException) -> str:
    """`Type: first line of the message` (driver errors span several lines)."""
    first = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


async def database_answers(url: str, *, timeout_s: float = 5.0) -> None:
    """Open a fresh connection and run `SELECT 1` (raises when PostgreSQL does not answer)."""
    async with await psycopg.AsyncConnection.connect(
        libpq_url(url), connect_timeout=max(1, int(timeout_s)), autocommit=True
    ) as conn:
        await conn.execute("SELECT 1")


async def wait_for_database(
    check: Callable[[], Awaitable[object]],
    stop: asyncio.Event,
    *,
    timeout_s: float,
    clock: Callable[[], float] = time.monotonic,
) -> bool:
    """Until `check()` succeeds (True) or `stop` is set (False); raise after `timeout_s` of failures."""
    started = clock()
    delay = RECONNECT_INITIAL_S
    while True:
        try:
            await check()
        except Exception as exc:  # any failure to reach the database means "wait"
            waited = clock() - started
            if waited >= timeout_s:
                raise DatabaseUnavailableError(
                    f"PostgreSQL unreachable for {waited:.0f} s "
                    f"(WALLETSYNC_WORKER_RECONNECT_TIMEOUT): {one_line(exc)}"
                ) from exc
            log.warning("worker.reconnecting", retry_in_s=delay, error=one_line(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=min(delay, timeout_s - waited))
            if stop.is_set():
                return False
            delay = min(RECONNECT_MAX_S, delay * 2)
            continue
        log.info("worker.reconnected", after_s=round(clock() - started, 1))
        return True


def restart_delay(quick_restarts: int) -> float:
    """Seconds before restarting a worker that ended `quick_restarts` times in a row within a minute."""
    if quick_restarts <= 1:
        return 0.0
    return float(min(RECONNECT_MAX_S, RECONNECT_INITIAL_S * 2.0 ** (quick_restarts - 2)))


async def stopped_within(stop: asyncio.Event, seconds: float) -> bool:
    """Wait up to `seconds`; True if a stop was requested meanwhile."""
    if seconds > 0:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=seconds)
    return stop.is_set()
