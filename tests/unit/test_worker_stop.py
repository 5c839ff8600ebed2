"""A worker asked to stop stops, even when a cancellation would have been lost on the way.

The stand-in worker below follows Procrastinate's `Worker` contract (`run()` until `stop()`, which
sets an event that `run()` clears when it starts) and swallows the first cancellation it gets, as
Python 3.11's `asyncio.wait_for` does when its inner future completes in the same loop turn
(bpo-42130; psycopg_pool waits for connections that way). `walletsync worker` hung until SIGKILL
when SIGTERM reached it while it registered itself.
"""

from __future__ import annotations

import asyncio

from walletsync.jobs.supervise import Ended, run_once


class LosesFirstCancellation:
    def __init__(self) -> None:
        self.stopping = asyncio.Event()
        self.cancellations_swallowed = 0
        self.finished = False

    async def run(self) -> None:
        self.stopping.clear()  # as Procrastinate's Worker.run does before its first await
        try:
            await asyncio.sleep(0.2)  # registering the worker: the cancellation lands here
        except asyncio.CancelledError:
            self.cancellations_swallowed += 1
        await self.stopping.wait()  # the fetch loop: ends only when stop() is called
        self.finished = True  # running jobs finished, worker unregistered

    def stop(self) -> None:
        self.stopping.set()


async def test_a_requested_stop_ends_a_worker_that_would_lose_a_cancellation() -> None:
    worker = LosesFirstCancellation()
    stop = asyncio.Event()
    stop.set()  # SIGTERM came while the worker started
    ended = await asyncio.wait_for(run_once(worker, stop, wait=True), timeout=10)
    assert ended is Ended.STOPPED
    assert worker.finished  # stopped the graceful way: its own loop ended
    assert worker.cancellations_swallowed == 0  # nothing to lose: it was asked, not cancelled


async def test_cancelling_the_supervisor_stops_the_worker_gracefully() -> None:
    """`walletsync serve` used to cancel its worker task; a cancellation of `run_once` is still
    turned into `stop()`, and the worker's own loop ends before `run_once` re-raises."""
    worker = LosesFirstCancellation()
    supervisor = asyncio.create_task(run_once(worker, asyncio.Event(), wait=True))
    await asyncio.sleep(0.05)
    supervisor.cancel()
    done, _ = await asyncio.wait({supervisor}, timeout=10)
    assert done, "run_once did not end after it was cancelled"
    assert supervisor.cancelled()
    assert worker.finished
