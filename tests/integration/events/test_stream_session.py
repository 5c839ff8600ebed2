"""`/v1/events/stream` with the dashboard's session cookie (what the dashboard's `EventSource` sends,
since it cannot send an Authorization header): a valid session streams, a missing, expired, forged or
signed-out one is a 401, and the session shares its key's stream limit."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import update

from tests.integration.events.test_streams import serving
from walletsync.api.app import create_app
from walletsync.api.keys import Principal, create_key, key_memo
from walletsync.config import Settings
from walletsync.db.engine import Database
from walletsync.db.models import web_sessions
from walletsync.web.auth import SESSION_COOKIE
from walletsync.web.sessions import _hash, end_session, start_session

WAIT_S = 30


async def _session(db: Database, scope: str = "read") -> tuple[str, str]:
    """(a session cookie token, the plaintext key it acts as)."""
    async with db.write() as conn:
        created = await create_key(conn, name=f"stream {scope}", scope=scope)
        principal = Principal(key_id=created.info.id, name=created.info.name, scope=created.info.scope)
        token, _ = await start_session(conn, principal, ttl_s=3600)
    return token, created.key


def _cookie(token: str) -> dict[str, str]:
    return {"Cookie": f"{SESSION_COOKIE}={token}"}


async def _first_line(client: httpx.AsyncClient, url: str, **kwargs: object) -> tuple[int, str]:
    """The status and, for a 200, the stream's first line (the `: connected` comment)."""
    async with client.stream("GET", url, **kwargs) as response:  # type: ignore[arg-type]
        if response.status_code != 200:
            await response.aread()
            return response.status_code, response.text
        lines = response.aiter_lines()
        return 200, await asyncio.wait_for(anext(lines), WAIT_S)


async def test_the_stream_takes_a_valid_session_cookie_and_refuses_others(
    db: Database, settings: Settings
) -> None:
    key_memo().clear()
    token, _ = await _session(db)
    expired, _ = await _session(db)
    signed_out, _ = await _session(db)
    async with db.write() as conn:
        await conn.execute(
            update(web_sessions)
            .where(web_sessions.c.token_hash == _hash(expired))
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        assert await end_session(conn, signed_out)
    async with (
        serving(create_app(settings, database=db)) as host,
        httpx.AsyncClient(timeout=WAIT_S) as client,
    ):
        url = f"http://{host}/v1/events/stream"
        status, first = await _first_line(client, url, headers=_cookie(token))
        assert (status, first) == (200, ": connected")
        missing = await client.get(url)
        assert missing.status_code == 401
        for bad in (expired, signed_out, secrets.token_urlsafe(32), "x" * 500):
            refused = await client.get(url, headers=_cookie(bad))
            assert refused.status_code == 401, bad
            assert "dashboard session is missing, expired or signed out" in refused.json()["detail"]


async def test_a_session_shares_its_keys_stream_limit(db: Database, settings: Settings) -> None:
    key_memo().clear()
    token, key = await _session(db)
    one = settings.model_copy(update={"events_stream_max_per_key": 1})
    async with serving(create_app(one, database=db)) as host, httpx.AsyncClient(timeout=WAIT_S) as client:
        url = f"http://{host}/v1/events/stream"
        async with client.stream("GET", url, headers=_cookie(token)) as live:
            assert live.status_code == 200
            lines = live.aiter_lines()  # kept: a dropped line iterator closes the stream
            assert await asyncio.wait_for(anext(lines), WAIT_S) == ": connected"
            async with httpx.AsyncClient(timeout=WAIT_S) as other:
                refused = await other.get(url, headers={"Authorization": f"Bearer {key}"})
        assert refused.status_code == 429
        assert "at most 1 live streams per API key" in refused.json()["detail"]


async def test_the_cookie_is_ignored_when_the_dashboard_is_off(db: Database, settings: Settings) -> None:
    key_memo().clear()
    token, _ = await _session(db)
    off = settings.model_copy(update={"dashboard_enabled": False})
    async with serving(create_app(off, database=db)) as host, httpx.AsyncClient(timeout=WAIT_S) as client:
        refused = await client.get(f"http://{host}/v1/events/stream", headers=_cookie(token))
    assert refused.status_code == 401
    assert "an API key is required" in refused.json()["detail"]
