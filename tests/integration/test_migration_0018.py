"""Revision 0018 stores raw provider transactions as `json` (compressed with lz4 where the server has
it) instead of `jsonb`; every stored body survives the upgrade and the downgrade, and the indexer's
writes after it keep the provider's own text."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, create_engine, pool, text
from sqlalchemy.exc import DBAPIError

from walletsync.db import migrate
from walletsync.db.engine import psycopg_url

# Big enough to be compressed (over the 2 kB TOAST threshold), with a key order jsonb would change.
BODY = {"slot": 1, "meta": {"fee": 5000, "logMessages": ["Program log: transfer"] * 120}, "blockTime": 2}


@pytest.fixture
def engine(empty_database_url: str) -> Iterator[Engine]:
    eng = create_engine(psycopg_url(empty_database_url), poolclass=pool.NullPool)
    yield eng
    eng.dispose()


def _column(engine: Engine) -> tuple[str, str | None]:
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT data_type, (SELECT pg_column_compression(raw) FROM transactions WHERE tx_id = 't2')"
                " FROM information_schema.columns WHERE table_name = 'transactions' AND column_name = 'raw'"
            )
        ).one()
    return row[0], row[1]


def _server_has_lz4(engine: Engine) -> bool:
    with engine.connect() as conn:
        try:
            conn.execute(text("SET default_toast_compression = 'lz4'"))
        except DBAPIError:
            return False
        return True


def _bodies(engine: Engine) -> dict[str, object]:
    with engine.connect() as conn:
        return {
            row.tx_id: row.raw
            for row in conn.execute(text("SELECT tx_id, raw::text AS raw FROM transactions"))
        }


def _insert(engine: Engine, tx_id: str, body: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO transactions (chain, tx_id, height, block_time, fee, success, raw)"
                " VALUES ('solana', :t, 1, :at, 5000, true, CAST(:raw AS json))"
            ),
            {"t": tx_id, "at": datetime(2026, 1, 1, tzinfo=UTC), "raw": body},
        )


def test_raw_bodies_survive_the_type_change_both_ways(engine: Engine, empty_database_url: str) -> None:
    migrate.upgrade(empty_database_url, "0017")
    text_body = json.dumps(BODY, separators=(",", ":"))
    _insert(engine, "t1", text_body)
    assert _column(engine)[0] == "jsonb"

    migrate.upgrade(empty_database_url, "0018")
    _insert(engine, "t2", text_body)
    data_type, compression = _column(engine)
    assert data_type == "json"
    # Debian's PostgreSQL is built with lz4; the embedded servers of the wheel are not, and keep pglz.
    assert compression == ("lz4" if _server_has_lz4(engine) else "pglz")
    bodies = _bodies(engine)
    assert {tx_id: json.loads(body) for tx_id, body in bodies.items()} == {"t1": BODY, "t2": BODY}
    assert bodies["t2"] == text_body  # json keeps the provider's own text (jsonb reorders keys)

    migrate.downgrade(empty_database_url, "0017")
    assert _column(engine) == ("jsonb", compression)  # lz4 kept, as 0001 set it
    assert {tx_id: json.loads(body) for tx_id, body in _bodies(engine).items()} == {"t1": BODY, "t2": BODY}
    migrate.upgrade(empty_database_url)
