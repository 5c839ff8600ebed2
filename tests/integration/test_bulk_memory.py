"""Bulk writes do not keep their rows alive: the statement is built once and the rows travel as
execute-time parameters. (A statement holding a batch's values as literals sat in SQLAlchemy's
reference cycles, so every batch of decoded transactions, raw bodies included, stayed in memory
until the collector's rare full pass: bench/backfill.py's peak RSS grew by 180 MB.)"""

from __future__ import annotations

import gc

from sqlalchemy import func, select

from walletsync.db.bulk import insert_ignore, insert_ignore_returning
from walletsync.db.engine import Database
from walletsync.db.models import outbox


async def test_rows_are_released_as_soon_as_the_write_returns_ten_times_on_one_connection(db: Database) -> None:
    gc.collect()
    gc.disable()  # what remains referenced now is held by something, not yet-uncollected garbage
    try:
        async with db.write() as conn:
            for i in range(12):  # past PostgreSQL's switch to a generic plan after 5 executions
                payload = {"n": i, "body": ["x" * 10] * 3}
                if i % 2:
                    await insert_ignore(conn, outbox, ("payload",), [(payload,)], same={"topic": "test.bulk"})
                else:
                    ids = await insert_ignore_returning(
                        conn, outbox, ("payload",), [(payload,)], returning="id", same={"topic": "test.bulk"}
                    )
                    assert len(ids) == 1
                holders = [r for r in gc.get_referrers(payload) if r is not globals()]
                # Only this frame's own locals may point at it (and nothing in the statement cache).
                assert all(type(r).__name__ == "frame" for r in holders), [type(r).__name__ for r in holders]
            count = await conn.scalar(select(func.count()).select_from(outbox).where(outbox.c.topic == "test.bulk"))
        assert count == 12
    finally:
        gc.enable()
