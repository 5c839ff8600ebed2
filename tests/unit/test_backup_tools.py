"""Choosing pg_dump/pg_restore by server version, and keeping the password off the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from walletsync.db.pgtools import BackupToolError, PgTool, connection_for, find_tool, pick_tool


def _tool(major: int) -> PgTool:
    return PgTool(path=Path(f"/opt/pg{major}/bin/pg_dump"), major=major, version=f"{major}.1")


@pytest.mark.parametrize(
    ("available", "server", "at_least", "expected"),
    [
        ([15, 16, 18], 15, 0, 15),  # the server's own version wins
        ([16, 18], 15, 0, 16),  # else the oldest newer one
        ([15, 16, 18], 18, 0, 18),
        ([15, 16, 18], 15, 16, 16),  # an archive made by pg_dump 16 needs pg_restore >= 16
        ([15, 16], 18, 0, None),  # every client is older than the server
        ([], 15, 0, None),
    ],
)
def test_pick_tool(available: list[int], server: int, at_least: int, expected: int | None) -> None:
    """The matching major version is preferred, newer is accepted, older never."""
    chosen = pick_tool([_tool(m) for m in available], server, at_least=at_least)
    assert (chosen.major if chosen else None) == expected


def test_no_client_new_enough_is_one_line_naming_versions() -> None:
    """A server newer than every client fails with a single line that says what was found."""
    with pytest.raises(BackupToolError) as raised:
        find_tool("pg_dump", 99)
    message = raised.value.detail
    assert "\n" not in message
    assert "PostgreSQL 99" in message
    assert "found " in message


def test_password_goes_to_the_environment_not_the_command_line() -> None:
    """The DSN handed to pg_dump has no password; PGPASSWORD carries it; messages mask it."""
    conn = connection_for("postgresql+asyncpg://app:s3cret@db.internal:5433/walletsync?sslmode=require")
    assert "s3cret" not in conn.dsn
    assert conn.dsn == "postgresql://app@db.internal:5433/walletsync?sslmode=require"
    assert conn.env("walletsync-backup")["PGPASSWORD"] == "s3cret"
    assert conn.env("walletsync-backup")["PGAPPNAME"] == "walletsync-backup"
    assert "s3cret" not in conn.display
    assert conn.redact("auth failed for s3cret") == "auth failed for ***"


def test_password_in_the_query_string_is_moved_too() -> None:
    """libpq also accepts ?password=...; it must not reach the command line either."""
    conn = connection_for("postgresql://app@/walletsync?host=/run/pg&password=pw1")
    assert "pw1" not in conn.dsn
    assert conn.password == "pw1"
    assert "host=" in conn.dsn
