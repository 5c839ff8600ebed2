"""The job app's connection pool is closed however its opening ends, a cancellation included.

psycopg_pool's worker tasks outlive a cancellation by design (they stop on the pool's close only);
a pool left open by a cancelled start kept `asyncio.run` from ever returning: `walletsync worker`
signalled while it started hung until SIGKILL, the embedded PostgreSQL with it. The scenario runs
in its own `asyncio.run` on a thread, so a regression fails here instead of hanging the test run.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from walletsync.jobs.app import open_app

T = TypeVar("T")


def _pool_tasks() -> list[str]:
    return sorted(t.get_name() for t in asyncio.all_tasks() if t.get_name().startswith("pool-"))


def _run_on_a_thread(scenario: Coroutine[Any, Any, T], timeout_s: float = 30) -> T:
    """`asyncio.run(scenario)` on a thread; fails the test if it does not return within the timeout."""
    outcome: list[T] = []

    thread = threading.Thread(target=lambda: outcome.append(asyncio.run(scenario)), daemon=True)
    thread.start()
    thread.join(timeout_s)
    assert not thread.is_alive(), "asyncio.run never returned: the pool's tasks kept the loop alive"
    assert outcome, "the scenario failed (its traceback is above)"
    return outcome[0]


def test_cancelled_while_the_pool_opens_leaves_no_pool_task(database_url: str) -> None:
    """Five starts, each cancelled as soon as the pool's tasks exist (it is connecting then).

    Python 3.11's `asyncio.wait_for`, which psycopg_pool's open waits in, can swallow a cancellation
    (bpo-42130); the start then opens, and it is cancelled again in its body. At least one of the
    five must have been cancelled while the pool opened, which is the case under test.
    """
    reached: list[str] = []

    async def start() -> None:
        async with open_app(database_url):
            reached.append("open")
            await asyncio.sleep(30)

    async def scenario() -> tuple[bool, list[str]]:
        reached.clear()
        task = asyncio.create_task(start())
        while not _pool_tasks():  # noqa: ASYNC110 - psycopg_pool signals nothing when its tasks start
            await asyncio.sleep(0)
        while not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=1)
        return not reached, _pool_tasks()

    outcomes = [_run_on_a_thread(scenario()) for _ in range(5)]
    assert [left for _, left in outcomes] == [[]] * 5, "pool tasks left running after a cancelled start"
    assert any(while_opening for while_opening, _ in outcomes)


async def test_opened_and_closed_ten_times_leaves_no_pool_task(database_url: str) -> None:
    for _ in range(10):
        async with open_app(database_url) as app:
            assert await app.check_connection_async()
    assert _pool_tasks() == []
