"""SIGTERM in an async command cancels its main task; it never lands inside another task.

These send real signals to this process (pytest runs tests in the main thread, where Python runs
signal handlers) with walletsync's handlers installed, and put the process's own handlers back after.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator

import pytest

from walletsync.jobs.supervise import stop_on_signals
from walletsync.signals import (
    Terminated,
    run_until_signalled,
    stop_on_termination_signals,
    termination_requested,
)


@pytest.fixture
def walletsync_handlers() -> Iterator[None]:
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGHUP)}
    stop_on_termination_signals()
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def test_sigterm_cancels_the_main_task_not_the_task_that_runs(walletsync_handlers: None) -> None:
    """The signal arrives while a side task runs (a connection pool's worker, say): that task keeps
    going to its end, the main task unwinds through its `finally`, and the command ends `Terminated`.
    Before, `Terminated` was raised inside the side task, which died half-way."""
    seen: list[str] = []

    async def side() -> None:
        os.kill(os.getpid(), signal.SIGTERM)  # the handler runs here, in this task's frame
        seen.append("side kept going")
        await asyncio.sleep(0)
        seen.append("side finished")

    async def command() -> None:
        task = asyncio.create_task(side())
        try:
            await asyncio.sleep(30)  # the cancellation ends this wait
        finally:
            await task
            seen.append("command unwound")

    with pytest.raises(Terminated) as stopped:
        run_until_signalled(command())
    assert stopped.value.signum == signal.SIGTERM
    assert stopped.value.code == 128 + signal.SIGTERM
    assert seen == ["side kept going", "side finished", "command unwound"]


def test_sighup_is_sigterm(walletsync_handlers: None) -> None:
    async def command() -> None:
        os.kill(os.getpid(), signal.SIGHUP)
        await asyncio.sleep(30)

    with pytest.raises(Terminated) as stopped:
        run_until_signalled(command())
    assert stopped.value.signum == signal.SIGTERM


def test_a_swallowed_cancellation_still_ends_the_command_and_stops_a_worker_that_starts_later(
    walletsync_handlers: None,
) -> None:
    """Python 3.11's `asyncio.wait_for` can swallow a cancellation (bpo-42130). The signal is not
    lost with it: a worker starting afterwards stops at once, and the command still ends `Terminated`."""
    stop = asyncio.Event()

    async def command() -> str:
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            pass  # what wait_for does when its inner future completes in the same loop turn
        assert termination_requested()
        with stop_on_signals(stop):
            await asyncio.wait_for(stop.wait(), timeout=5)
        return "worker stopped"

    with pytest.raises(Terminated):
        run_until_signalled(command())
    assert stop.is_set()
    assert not termination_requested()  # the next command starts clean


def test_a_second_signal_while_unwinding_raises_at_once(walletsync_handlers: None) -> None:
    unwound: list[str] = []

    async def command() -> None:
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            await asyncio.sleep(30)
        finally:
            try:
                os.kill(os.getpid(), signal.SIGTERM)  # impatient operator: raises right here
                unwound.append("not reached")
            finally:
                unwound.append("inner finally")

    with pytest.raises(Terminated):
        run_until_signalled(command())
    assert unwound == ["inner finally"]


def test_a_command_without_a_signal_returns_its_value(walletsync_handlers: None) -> None:
    async def command() -> int:
        await asyncio.sleep(0)
        return 7

    assert run_until_signalled(command()) == 7


async def test_the_worker_puts_back_the_handlers_it_found(walletsync_handlers: None) -> None:
    """asyncio's `remove_signal_handler` leaves SIGTERM at its default (die on the spot, the embedded
    PostgreSQL left running); after a worker stops, walletsync's handler must be back."""
    ours = signal.getsignal(signal.SIGTERM)
    interrupt = signal.getsignal(signal.SIGINT)
    with stop_on_signals(asyncio.Event()):
        assert signal.getsignal(signal.SIGTERM) is not ours  # the loop's, while the worker runs
    assert signal.getsignal(signal.SIGTERM) is ours
    assert signal.getsignal(signal.SIGINT) is interrupt
