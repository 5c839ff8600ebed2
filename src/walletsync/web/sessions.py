"""Dashboard sessions and one-time sign-in links, stored in PostgreSQL (`web_sessions`,
`web_signin_tokens`).

A session is a random 256-bit token in an HttpOnly cookie; the table keeps only its SHA-256, the API
key the session acts as, and a CSRF token. Server-side rather than a self-contained signed cookie:
signing out, expiry and revoking the key each end a session at once, on every API process, with no
signing secret to configure or rotate (the token is as unforgeable as a signature: 256 random bits).

A sign-in link token is consumed by the `DELETE ... RETURNING` that reads it, so two browsers racing
for one link cannot both win. Nothing grows forever: each sign-in deletes the expired sessions and
link tokens (`prune`), so the tables hold live rows plus those expired since the last sign-in.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from walletsync.api.keys import Principal, Scope, create_key, scope_of
from walletsync.db.models import api_keys, web_sessions, web_signin_tokens

LINK_TTL = timedelta(minutes=10)
LINK_KEY_NAME = "dashboard sign-in link"


@dataclass(frozen=True, slots=True)
class WebSession:
    principal: Principal
    csrf_token: str
    expires_at: datetime


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def prune(conn: AsyncConnection, *, now: datetime | None = None) -> int:
    """Delete expired sessions and link tokens; how many rows went."""
    moment = now or datetime.now(UTC)
    gone = 0
    for table in (web_sessions, web_signin_tokens):
        result = await conn.execute(delete(table).where(table.c.expires_at <= moment))
        gone += result.rowcount
    return gone


async def start_session(conn: AsyncConnection, principal: Principal, *, ttl_s: int) -> tuple[str, WebSession]:
    """A new session for `principal`: (the cookie's token, the session). Prunes expired rows first."""
    await prune(conn)
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    expires_at = datetime.now(UTC) + timedelta(seconds=ttl_s)
    await conn.execute(
        insert(web_sessions).values(
            token_hash=_hash(token), api_key_id=principal.key_id, csrf_token=csrf, expires_at=expires_at
        )
    )
    return token, WebSession(principal=principal, csrf_token=csrf, expires_at=expires_at)


async def load_session(conn: AsyncConnection, token: str) -> WebSession | None:
    """The live session of a cookie token: not expired, and its API key not revoked."""
    if not token or len(token) > 100:
        return None
    row = (
        await conn.execute(
            select(
                web_sessions.c.csrf_token,
                web_sessions.c.expires_at,
                api_keys.c.id,
                api_keys.c.name,
                api_keys.c.scopes,
            )
            .join(api_keys, api_keys.c.id == web_sessions.c.api_key_id)
            .where(
                web_sessions.c.token_hash == _hash(token),
                web_sessions.c.expires_at > func.now(),
                api_keys.c.revoked_at.is_(None),
            )
        )
    ).first()
    if row is None:
        return None
    principal = Principal(key_id=row.id, name=row.name, scope=scope_of(list(row.scopes)))
    return WebSession(principal=principal, csrf_token=row.csrf_token, expires_at=row.expires_at)


async def end_session(conn: AsyncConnection, token: str) -> bool:
    """Delete a session (sign-out); whether it existed."""
    result = await conn.execute(delete(web_sessions).where(web_sessions.c.token_hash == _hash(token)))
    return result.rowcount > 0


async def create_signin_link_token(conn: AsyncConnection, *, ttl: timedelta = LINK_TTL) -> str:
    """A one-time sign-in token for the local operator, acting as the admin key named `LINK_KEY_NAME`
    (created on first use; revoke it with `walletsync apikeys revoke` to end every session it made)."""
    await prune(conn)
    key_id = (
        await conn.execute(
            select(api_keys.c.id)
            .where(api_keys.c.name == LINK_KEY_NAME, api_keys.c.revoked_at.is_(None))
            .order_by(api_keys.c.id)
            .limit(1)
        )
    ).scalar_one_or_none()
    if key_id is None:
        # The plaintext key is dropped: the link acts through the key's id and never needs it.
        key_id = (await create_key(conn, name=LINK_KEY_NAME, scope=Scope.ADMIN)).info.id
    token = secrets.token_urlsafe(32)
    await conn.execute(
        insert(web_signin_tokens).values(
            token_hash=_hash(token), api_key_id=key_id, expires_at=datetime.now(UTC) + ttl
        )
    )
    return token


async def consume_signin_link_token(conn: AsyncConnection, token: str) -> Principal | None:
    """The principal of a valid, unused link token, which is consumed; None when unknown, used or expired."""
    if not token or len(token) > 100:
        return None
    consumed = (
        delete(web_signin_tokens)
        .where(web_signin_tokens.c.token_hash == _hash(token))
        .returning(web_signin_tokens.c.api_key_id, web_signin_tokens.c.expires_at)
        .cte("consumed")
    )
    row = (
        await conn.execute(
            select(api_keys.c.id, api_keys.c.name, api_keys.c.scopes)
            .join(consumed, consumed.c.api_key_id == api_keys.c.id)
            .where(consumed.c.expires_at > func.now(), api_keys.c.revoked_at.is_(None))
        )
    ).first()
    if row is None:
        return None
    return Principal(key_id=row.id, name=row.name, scope=scope_of(list(row.scopes)))
