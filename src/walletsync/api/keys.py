"""API keys: create (shown once), list, revoke, verify.

A key is `wsk_` + 32 random bytes (base64url). Only its SHA-256 is stored: the key carries 256 bits
of entropy, so a slow password hash would add nothing but latency. A lookup finds candidate rows by
the key's first 12 characters (`key_prefix`, not secret), then compares the hashes with
`hmac.compare_digest` so the comparison takes the same time whatever matches.

Scopes are ordered: `admin` can do what `write` can, `write` what `read` can. A verified key is kept
in a small per-process memo for `MEMO_TTL_S` seconds so hot reads do not pay a database round trip
each, and a key found unknown for `UNKNOWN_TTL_S` (keys are random: an unknown one never becomes
valid), so a client repeating a bad key costs no query either. A string that is not shaped like a key
is refused without any query.

Revocation (API or CLI) sends `NOTIFY walletsync_api_key_revoked, '<key id>'` in its transaction;
every API process LISTENs on a session connection of its own (`RevocationListener`) and drops the key
from its memo when the revocation commits. While that connection is down the memo is emptied, and
emptied again on reconnecting, so a revocation is never missed for longer than `MEMO_TTL_S`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import asyncpg
import structlog
from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from walletsync.db.engine import libpq_url
from walletsync.db.models import api_keys
from walletsync.errors import InvalidInputError, NotFoundError

KEY_PREFIX = "wsk_"
LOOKUP_CHARS = 12
MEMO_TTL_S = 5.0
UNKNOWN_TTL_S = 60.0
MEMO_MAX = 10_000
REVOKED_CHANNEL = "walletsync_api_key_revoked"
# What `create_key` makes: the prefix and 43 base64url characters (32 bytes).
KEY_SHAPE = re.compile(r"^wsk_[A-Za-z0-9_-]{43}$")

log = structlog.get_logger(__name__)


class Scope(StrEnum):
    READ = "read"
    WRITE = "write"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def allows(self, needed: Scope) -> bool:
        return self.rank >= needed.rank


_RANK = {Scope.READ: 0, Scope.WRITE: 1, Scope.ADMIN: 2}


class ApiKeyNotFoundError(NotFoundError):
    title = "API key not found"


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    id: int
    name: str
    key_prefix: str
    scope: Scope
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class CreatedKey:
    info: ApiKeyInfo
    key: str  # the plaintext key: shown once, never stored


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts as."""

    key_id: int
    name: str
    scope: Scope


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _scope_of(scopes: list[str]) -> Scope:
    known = [Scope(s) for s in scopes if s in Scope.__members__.values()]
    return max(known, key=lambda s: s.rank) if known else Scope.READ


def _info(row: Any) -> ApiKeyInfo:
    return ApiKeyInfo(
        id=row.id,
        name=row.name,
        key_prefix=row.key_prefix,
        scope=_scope_of(list(row.scopes)),
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


async def create_key(conn: AsyncConnection, *, name: str, scope: Scope | str) -> CreatedKey:
    """Create a key; the plaintext is in the result and nowhere else."""
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidInputError("an API key name must be 1 to 200 characters")
    try:
        scope = Scope(scope)
    except ValueError:
        raise InvalidInputError(f"unknown scope {scope!r} (expected read, write or admin)") from None
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = (
        await conn.execute(
            insert(api_keys)
            .values(name=name, key_prefix=key[:LOOKUP_CHARS], key_hash=hash_key(key), scopes=[scope.value])
            .returning(*api_keys.c)
        )
    ).one()
    return CreatedKey(info=_info(row), key=key)


async def list_keys(conn: AsyncConnection, *, include_revoked: bool = True) -> list[ApiKeyInfo]:
    query = select(api_keys).order_by(api_keys.c.id)
    if not include_revoked:
        query = query.where(api_keys.c.revoked_at.is_(None))
    return [_info(row) for row in await conn.execute(query)]


async def revoke_key(conn: AsyncConnection, key_id: int) -> ApiKeyInfo:
    """Revoke a key (idempotent: a revoked key keeps its first revocation time)."""
    row = (
        await conn.execute(
            update(api_keys)
            .where(api_keys.c.id == key_id)
            .values(revoked_at=func.coalesce(api_keys.c.revoked_at, func.now()))
            .returning(*api_keys.c)
        )
    ).first()
    if row is None:
        raise ApiKeyNotFoundError(f"no API key with id {key_id}")
    _MEMO.forget(row.key_hash)
    # Delivered to every listening API process when this transaction commits (not before, not if not).
    await conn.execute(select(func.pg_notify(REVOKED_CHANNEL, str(row.id))))
    return _info(row)


def well_formed(presented: str) -> bool:
    """Shaped like a key this API issues (checked before any lookup)."""
    return KEY_SHAPE.fullmatch(presented) is not None


async def verify_key(conn: AsyncConnection, presented: str) -> Principal | None:
    """The principal of a presented key, or None when it is unknown or revoked."""
    if not presented.startswith(KEY_PREFIX) or len(presented) < LOOKUP_CHARS + 8 or len(presented) > 200:
        return None
    digest = hash_key(presented)
    rows = await conn.execute(
        select(
            api_keys.c.id, api_keys.c.name, api_keys.c.key_hash, api_keys.c.scopes, api_keys.c.revoked_at
        ).where(api_keys.c.key_prefix == presented[:LOOKUP_CHARS])
    )
    found: Principal | None = None
    for row in rows:
        # Every candidate is compared (no early exit), each in constant time.
        if hmac.compare_digest(row.key_hash, digest) and row.revoked_at is None:
            found = Principal(key_id=row.id, name=row.name, scope=_scope_of(list(row.scopes)))
    return found


class KeyMemo:
    """Looked-up keys by hash: verified ones for `ttl` seconds, unknown ones for `unknown_ttl`."""

    def __init__(
        self,
        *,
        ttl: float = MEMO_TTL_S,
        unknown_ttl: float = UNKNOWN_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.unknown_ttl = unknown_ttl
        self.clock = clock
        self._entries: dict[str, tuple[float, Principal | None]] = {}

    def lookup(self, digest: str) -> tuple[bool, Principal | None]:
        """(known, principal): known=False means ask the database; principal None means unknown key."""
        entry = self._entries.get(digest)
        if entry is None:
            return False, None
        expires, principal = entry
        if self.clock() >= expires:
            self._entries.pop(digest, None)
            return False, None
        return True, principal

    def get(self, digest: str) -> Principal | None:
        return self.lookup(digest)[1]

    def put(self, digest: str, principal: Principal) -> None:
        self._store(digest, principal, self.ttl)

    def put_unknown(self, digest: str) -> None:
        self._store(digest, None, self.unknown_ttl)

    def _store(self, digest: str, principal: Principal | None, ttl: float) -> None:
        if len(self._entries) >= MEMO_MAX:
            self._entries.clear()
        self._entries[digest] = (self.clock() + ttl, principal)

    def forget(self, digest: str) -> None:
        self._entries.pop(digest, None)

    def forget_key(self, key_id: int) -> None:
        """Drop a revoked key, whatever its hash (a revocation names the key by id)."""
        for digest, (_, principal) in list(self._entries.items()):
            if principal is not None and principal.key_id == key_id:
                self._entries.pop(digest, None)

    def clear(self) -> None:
        self._entries.clear()


class RevocationListener:
    """LISTENs for key revocations on a session connection (never through PgBouncer: `direct_url`)
    and applies them to the memo; reconnects with backoff, emptying the memo while deaf.

    Hand-written because it is only wiring: asyncpg's `add_listener` does the protocol work."""

    def __init__(self, url: str, memo: KeyMemo, *, retry_s: float = 1.0) -> None:
        self.url = libpq_url(url)
        self.memo = memo
        self.retry_s = retry_s
        self.listening = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="api-key-revocations")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _notified(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        try:
            self.memo.forget_key(int(payload))
        except ValueError:
            self.memo.clear()  # not ours to parse: forget everything rather than keep a revoked key

    async def _run(self) -> None:
        while True:
            await self._listen_once()
            # Lost or never made: retry after a pause, so a restarting server is not hammered.
            await asyncio.sleep(self.retry_s)

    async def _listen_once(self) -> None:
        closed = asyncio.Event()
        conn: asyncpg.Connection | None = None
        try:
            conn = await asyncpg.connect(self.url, server_settings={"application_name": "walletsync-keys"})
            conn.add_termination_listener(lambda _conn: closed.set())
            await conn.add_listener(REVOKED_CHANNEL, self._notified)
            self.memo.clear()  # revocations while nobody listened
            self.listening.set()
            await closed.wait()
            log.warning("api.keys.listen_lost")
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("api.keys.listen_failed", error=f"{type(exc).__name__}: {exc}")
        finally:
            self.listening.clear()
            self.memo.clear()  # deaf: no remembered key may outlive a revocation we cannot hear
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.close(timeout=1)


_MEMO = KeyMemo()


def key_memo() -> KeyMemo:
    return _MEMO


scope_of = _scope_of  # public: dashboard sessions read a key's scopes too
