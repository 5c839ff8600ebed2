"""`walletsync apikeys create|list|revoke` as a user runs them (a subprocess on the test database)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from walletsync.api.keys import hash_key
from walletsync.db.engine import Database
from walletsync.db.models import api_keys


def _walletsync(database_url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "WALLETSYNC_DATABASE_URL": database_url,
        "WALLETSYNC_AUTO_MIGRATE": "false",
        "WALLETSYNC_DATA_DIR": str(tmp_path),
        "WALLETSYNC_REDIS_URL": "",
    }
    return subprocess.run(
        [str(Path(sys.executable).parent / "walletsync"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )


async def test_apikeys_create_list_revoke(db: Database, database_url: str, tmp_path: Path) -> None:
    """create prints the key once (stored only as its hash), list never shows it, revoke marks it revoked."""
    created = _walletsync(database_url, tmp_path, "apikeys", "create", "ci bot", "--scope", "write", "-q")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("wsk_")
    async with db.read() as conn:
        row = (await conn.execute(select(api_keys))).one()
    assert (row.name, list(row.scopes), row.key_hash) == ("ci bot", ["write"], hash_key(key))

    listed = _walletsync(database_url, tmp_path, "apikeys", "list")
    assert listed.returncode == 0, listed.stderr
    assert "ci bot" in listed.stdout
    assert key not in listed.stdout

    revoked = _walletsync(database_url, tmp_path, "apikeys", "revoke", str(row.id))
    assert revoked.returncode == 0, revoked.stderr
    async with db.read() as conn:
        assert (await conn.execute(select(api_keys.c.revoked_at))).scalar_one() is not None

    unknown = _walletsync(database_url, tmp_path, "apikeys", "revoke", "999")
    assert unknown.returncode == 3
    assert "no API key with id 999" in unknown.stderr
    bad_scope = _walletsync(database_url, tmp_path, "apikeys", "create", "x", "--scope", "root")
    assert bad_scope.returncode == 2
    assert "unknown scope" in bad_scope.stderr
