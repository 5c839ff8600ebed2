"""`walletsync apikeys create|list|revoke` as a user runs them (a subprocess on the test database)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from tests.support import run_against
from walletsync.api.keys import hash_key
from walletsync.db.engine import Database
from walletsync.db.models import api_keys


async def test_apikeys_create_list_revoke(db: Database, database_url: str, tmp_path: Path) -> None:
    """create prints the key once (stored only as its hash), list never shows it, revoke marks it revoked."""
    created = run_against(database_url, tmp_path, "apikeys", "create", "ci bot", "--scope", "write", "-q")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("wsk_")
    async with db.read() as conn:
        row = (await conn.execute(select(api_keys))).one()
    assert (row.name, list(row.scopes), row.key_hash) == ("ci bot", ["write"], hash_key(key))

    listed = run_against(database_url, tmp_path, "apikeys", "list")
    assert listed.returncode == 0, listed.stderr
    assert "ci bot" in listed.stdout
    assert key not in listed.stdout

    revoked = run_against(database_url, tmp_path, "apikeys", "revoke", str(row.id))
    assert revoked.returncode == 0, revoked.stderr
    async with db.read() as conn:
        assert (await conn.execute(select(api_keys.c.revoked_at))).scalar_one() is not None

    unknown = run_against(database_url, tmp_path, "apikeys", "revoke", "999")
    assert unknown.returncode == 3
    assert "no API key with id 999" in unknown.stderr
    bad_scope = run_against(database_url, tmp_path, "apikeys", "create", "x", "--scope", "root")
    assert bad_scope.returncode == 2
    assert "unknown scope" in bad_scope.stderr
