"""Dashboard sign-in, sessions, link tokens, CSRF and headers, against the real app and PostgreSQL
(no browser: tests/browser/ drives Chromium through the same flows)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import column, func, insert, literal, select, table
from sqlalchemy.dialects.postgresql import JSONB

from walletsync.api.app import create_app
from walletsync.api.keys import Principal, Scope, create_key, key_memo, revoke_key
from walletsync.config import Chain, Settings
from walletsync.db.engine import Database
from walletsync.db.models import (
    assets,
    balance_deltas,
    outbox,
    transactions,
    web_sessions,
    web_signin_tokens,
    webhook_deliveries,
    webhooks,
)
from walletsync.wallets.repository import add_wallet
from walletsync.web import create_signin_link
from walletsync.web.sessions import load_session, prune, start_session

Client = Callable[..., Any]


@pytest.fixture
async def client(db: Database, settings: Settings) -> AsyncIterator[Client]:
    """Start the app (lifespan included); `await client(base_url=..., **settings)` gives an httpx client."""
    stack = AsyncExitStack()
    key_memo().clear()

    async def start(base_url: str = "http://127.0.0.1:8000", **overrides: Any) -> httpx.AsyncClient:
        app = create_app(settings.model_copy(update=overrides), database=db)
        await stack.enter_async_context(app.router.lifespan_context(app))
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)
        return await stack.enter_async_context(http)

    async with stack:
        yield start
    key_memo().clear()


async def _key(db: Database, scope: str = "read") -> tuple[int, str]:
    async with db.write() as conn:
        created = await create_key(conn, name=f"web {scope}", scope=scope)
    return created.info.id, created.key


def _hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match is not None, html
    return match.group(1)


async def _sign_in(http: httpx.AsyncClient, key: str) -> httpx.Response:
    form = await http.get("/web/signin")
    csrf = _hidden(form.text, "csrf_token")
    return await http.post("/web/signin", data={"api_key": key, "csrf_token": csrf, "next": "/web/market"})


async def test_sign_in_sets_a_strict_http_only_cookie_and_sign_out_deletes_the_session(
    db: Database, client: Client
) -> None:
    """Loopback: HttpOnly, SameSite=Strict, not Secure, expiring; sign-out deletes the row."""
    http = await client()
    _, key = await _key(db)
    response = await _sign_in(http, key)
    assert response.status_code == 303
    assert response.headers["location"] == "/web/market"
    cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith("walletsync_session="))
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Secure" not in cookie
    assert "Max-Age=43200" in cookie
    async with db.read() as conn:
        assert await conn.scalar(select(func.count()).select_from(web_sessions)) == 1
    page = await http.get("/web/")
    assert page.status_code == 200
    csrf = _hidden(page.text, "csrf_token")
    out = await http.post("/web/signout", data={"csrf_token": csrf})
    assert out.status_code == 303
    async with db.read() as conn:
        assert await conn.scalar(select(func.count()).select_from(web_sessions)) == 0
    assert (await http.get("/web/")).status_code == 303


async def test_the_cookie_is_secure_outside_loopback(db: Database, client: Client) -> None:
    """Behind a public host name (a TLS proxy) the session cookie is Secure."""
    http = await client(base_url="https://dash.example.com")
    _, key = await _key(db)
    response = await _sign_in(http, key)
    cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith("walletsync_session="))
    assert "Secure" in cookie


async def test_a_wrong_key_or_a_forged_form_is_refused(db: Database, client: Client) -> None:
    """Unknown key: 401 with the message. No sign-in CSRF cookie match: 400. No session either way."""
    http = await client()
    wrong = await _sign_in(http, "wsk_" + "x" * 43)
    assert wrong.status_code == 401
    assert "That API key is unknown or revoked." in wrong.text
    forged = await http.post(
        "/web/signin", data={"api_key": "wsk_x", "csrf_token": "forged", "next": "/web/"}
    )
    assert forged.status_code == 400
    assert "The form expired" in forged.text
    nul = await http.post("/web/signin", data={"api_key": "wsk_\x00", "csrf_token": "x", "next": "/web/"})
    assert nul.status_code == 422  # PostgreSQL text cannot hold NUL: refused before any query
    async with db.read() as conn:
        assert await conn.scalar(select(func.count()).select_from(web_sessions)) == 0


async def test_state_changing_forms_need_the_session_csrf_token(db: Database, client: Client) -> None:
    """Sync now with a write session but the wrong CSRF token: 403 with a message, no job."""
    http = await client()
    _, key = await _key(db, "write")
    await _sign_in(http, key)
    refused = await http.post("/web/signout", data={"csrf_token": "not-the-token"})
    assert refused.status_code == 403
    assert "did not come from this dashboard" in refused.text
    assert (await http.get("/web/")).status_code == 200  # still signed in


async def test_revoking_the_key_ends_its_sessions(db: Database, client: Client) -> None:
    """A session acts as its key: revoke the key and the next page asks to sign in."""
    http = await client()
    key_id, key = await _key(db)
    await _sign_in(http, key)
    assert (await http.get("/web/")).status_code == 200
    async with db.write() as conn:
        await revoke_key(conn, key_id)
    response = await http.get("/web/leaderboards")
    assert response.status_code == 303
    assert response.headers["location"] == "/web/signin?next=%2Fweb%2Fleaderboards"


async def test_scope_limits_what_a_session_sees(db: Database, client: Client) -> None:
    """A read session: no Operations link and a 403 page for it; an admin session gets both."""
    http = await client()
    _, key = await _key(db, "read")
    await _sign_in(http, key)
    page = await http.get("/web/")
    assert 'href="/web/operations"' not in page.text
    ops = await http.get("/web/operations")
    assert ops.status_code == 403
    assert "The operations page needs a key with the admin scope" in ops.text
    admin_http = await client()
    _, admin = await _key(db, "admin")
    await _sign_in(admin_http, admin)
    assert 'href="/web/operations"' in (await admin_http.get("/web/")).text
    assert (await admin_http.get("/web/operations")).status_code == 200


async def test_a_sign_in_link_works_once_and_expires(db: Database, client: Client) -> None:
    """The CLI's link signs in as the admin link key exactly once; an expired one never."""
    http = await client()
    link = await create_signin_link(db, "http://127.0.0.1:8000")
    path = link.removeprefix("http://127.0.0.1:8000")
    first = await http.get(path)
    assert first.status_code == 303
    assert first.headers["location"] == "/web/"
    assert (await http.get("/web/operations")).status_code == 200
    again = await (await client()).get(path)
    assert again.status_code == 401
    assert "already used or expired" in again.text
    # Two links reuse one key (no key per run); an expired token is refused.
    second = await create_signin_link(db, "http://h")
    async with db.write() as conn:
        await conn.execute(web_signin_tokens.update().values(expires_at=func.now() - timedelta(seconds=1)))
    expired = await (await client()).get(second.removeprefix("http://h"))
    assert expired.status_code == 401


async def test_pages_carry_a_strict_csp_and_static_files_cache_for_a_year(
    db: Database, client: Client
) -> None:
    """No inline script, no other origin; `/static/` files are immutable behind content-hash URLs."""
    http = await client()
    page = await http.get("/web/signin")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self';" in csp
    assert "style-src 'self';" in csp
    assert "unsafe-inline" not in csp
    assert "http" not in csp
    assert page.headers["cache-control"] == "no-store"
    assert "<script>" not in page.text
    assert " style=" not in page.text
    scripts = re.findall(r'<script src="(/static/[^"]+)"', page.text)
    assert len(scripts) == 4  # htmx, Lightweight Charts, dashboard.js, live.js
    for src in scripts:
        asset = await http.get(src)
        assert asset.status_code == 200
        assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"


async def test_dashboard_disabled_serves_no_pages(db: Database, client: Client) -> None:
    """WALLETSYNC_DASHBOARD_ENABLED=false: /web/ and /static/ are 404; the API is unchanged."""
    http = await client(dashboard_enabled=False)
    assert (await http.get("/web/signin")).status_code == 404
    assert (await http.get("/static/css/app.css")).status_code == 404
    assert (await http.get("/healthz")).status_code == 200


async def test_expired_sessions_and_tokens_are_pruned_at_each_sign_in(db: Database) -> None:
    """Nothing grows forever: sign-ins (10 on one pooled connection) each delete what has expired."""
    key_id, _ = await _key(db)
    principal = Principal(key_id=key_id, name="web read", scope=Scope.READ)
    past = datetime.now(UTC) - timedelta(minutes=1)
    async with db.write() as conn:
        for n in range(5):
            await conn.execute(
                insert(web_sessions).values(
                    token_hash=f"old{n}", api_key_id=key_id, csrf_token="c", expires_at=past
                )
            )
            await conn.execute(
                insert(web_signin_tokens).values(token_hash=f"old{n}", api_key_id=key_id, expires_at=past)
            )
    async with db.primary.connect() as conn:
        tokens = []
        for _ in range(10):  # generic plans after 5 executions: the same statements keep working
            token, session = await start_session(conn, principal, ttl_s=60)
            assert session.principal == principal
            tokens.append(token)
            assert (await load_session(conn, token)) is not None
        await conn.commit()
        assert await conn.scalar(select(func.count()).select_from(web_sessions)) == 10
        assert await conn.scalar(select(func.count()).select_from(web_signin_tokens)) == 0
        assert await prune(conn, now=datetime.now(UTC) + timedelta(minutes=2)) == 10
        await conn.commit()
    assert all(t for t in tokens)


async def test_operations_shows_dead_letters_webhooks_and_retries_a_job(db: Database, client: Client) -> None:
    """Admin: a failed job is listed with Retry, which requeues it (CSRF header as htmx sends it); a
    webhook's dead delivery is listed with its error."""
    jobs = table(
        "procrastinate_jobs",
        column("id"),
        column("queue_name"),
        column("task_name"),
        column("args"),
        column("status"),
    )
    async with db.write() as conn:
        job_id = await conn.scalar(
            insert(jobs)
            .values(
                queue_name="sync",
                task_name="sync_wallet",
                args=literal({"wallet_id": 1}, JSONB),
                status="failed",
            )
            .returning(jobs.c.id)
        )
        event_id = await conn.scalar(
            insert(outbox).values(topic="tx.indexed", payload={}).returning(outbox.c.id)
        )
        hook_id = await conn.scalar(
            insert(webhooks)
            .values(url="https://hooks.example.com/in", secret="s", topics=["tx.indexed"])
            .returning(webhooks.c.id)
        )
        await conn.execute(
            insert(webhook_deliveries).values(
                webhook_id=hook_id,
                outbox_id=event_id,
                wallet_id=0,
                status="dead",
                attempts=8,
                last_error="HTTP 500 from receiver",
            )
        )
    http = await client()
    _, admin = await _key(db, "admin")
    await _sign_in(http, admin)
    ops = await http.get("/web/operations")
    assert ops.status_code == 200
    assert f'id="retry-{job_id}"' in ops.text
    assert "https://hooks.example.com/in" in ops.text
    assert "HTTP 500 from receiver" in ops.text
    csrf = _hidden(ops.text, "csrf_token")
    retried = await http.post(
        f"/web/jobs/{job_id}/retry", headers={"X-CSRF-Token": csrf, "HX-Request": "true"}
    )
    assert retried.status_code == 200
    assert f"Job {job_id} requeued (todo)." in retried.text
    async with db.read() as conn:
        assert await conn.scalar(select(jobs.c.status).where(jobs.c.id == job_id)) == "todo"
    again = await http.post(f"/web/jobs/{job_id}/retry", headers={"X-CSRF-Token": csrf, "HX-Request": "true"})
    assert f"job {job_id} is todo; only failed jobs can be retried" in again.text


async def test_value_board_shows_unpriced_wallets_as_unpriced_never_zero(
    db: Database, client: Client
) -> None:
    """Before any price sync a wallet's value score is unknown: the page says "unpriced", not 0."""
    async with db.write() as conn:
        wallet = await add_wallet(
            conn, chain=Chain.SOLANA, address="9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM"
        )
        asset = await conn.scalar(
            insert(assets)
            .values(chain="solana", asset_key="native", symbol="SOL", decimals=9)
            .returning(assets.c.id)
        )
        await conn.execute(insert(transactions).values(chain="solana", tx_id="t", fee=0, success=True))
        await conn.execute(
            insert(balance_deltas).values(
                wallet_id=wallet.id, chain="solana", tx_id="t", asset_id=asset, amount=5
            )
        )
    http = await client()
    _, key = await _key(db)
    await _sign_in(http, key)
    page = (await http.get("/web/leaderboards")).text
    value_board = page.split('id="board-value"', 1)[1].split("</section>", 1)[0]
    assert 'title="nothing this wallet holds is priced yet">unpriced</span>' in value_board
    assert "1 unpriced" in value_board
    assert "0.00" not in value_board
