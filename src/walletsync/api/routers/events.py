"""`/v1/events/stream` (Server-Sent Events) and `/v1/events/ws` (WebSocket): live events with resume.

Both need a read key (the SSE stream also takes the dashboard's session cookie: a browser's
`EventSource` cannot send an `Authorization` header) and take the same filters (`wallet_id`, `group`, `topic`; repeatable; wallet and
group match either). Each event is the webhook body; its stream position (`seq`) is the SSE `id:` and
the WebSocket frame's `seq`: resume with `Last-Event-ID` (or `?after=`), or by sending
`{"after": seq}` as the first WebSocket message. When the server ends a stream it says why: an SSE
`event: close` with `{"reason"}`, or a WebSocket close frame with code 4008 (too slow) or 1001
(shutting down) and the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.security import HTTPAuthorizationCredentials
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.routing import WebSocketRoute

from walletsync.api.deps import (
    StateDep,
    _bearer,
    _rate_limit,
    _rate_limit_unverified,
    admit,
    app_state,
    authenticate,
    client_address,
)
from walletsync.api.errors import ApiError, error_responses
from walletsync.api.events_schemas import Topic
from walletsync.api.keys import Principal, Scope
from walletsync.api.params import AUTHENTICATES, check_request
from walletsync.events.envelope import StoredEvent
from walletsync.events.schemas import TOPICS
from walletsync.events.streams import Filters, Hub, StreamClosed, TooManyStreams, sse_frame
from walletsync.web.auth import SESSION_COOKIE
from walletsync.web.sessions import load_session

router = APIRouter(prefix="/v1/events", tags=["events"])

PING_S = 15
FIRST_MESSAGE_WAIT_S = 0.25
SLOW_CLOSE_CODE = 4008

WalletFilter = Annotated[list[int] | None, Query(description="Only these wallets (repeatable).")]
GroupFilter = Annotated[list[str] | None, Query(description="Only wallets of these groups (repeatable).")]
TopicFilter = Annotated[list[Topic] | None, Query(description="Only these event types (repeatable).")]
After = Annotated[
    int | None, Query(ge=0, description="Resume after this stream position (as Last-Event-ID).")
]


def hub_of(app: Any) -> Hub:
    hub: Hub | None = getattr(app.state, "events_hub", None)
    if hub is None:
        state = app.state.walletsync
        hub = app.state.events_hub = Hub(state.db, state.settings)
    return hub


def filters_of(
    wallet_id: Sequence[int] | None, group: Sequence[str] | None, topic: Sequence[str] | None
) -> Filters:
    return Filters(
        wallet_ids=frozenset(wallet_id) if wallet_id else None,
        groups=frozenset(group) if group else None,
        topics=frozenset(topic) if topic else None,
    )


_keyed_read = admit(Scope.READ, public_when_allowed=False)


async def stream_reader(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """A read key (`Authorization: Bearer`), or else the dashboard's session cookie.

    The cookie is how the dashboard's `EventSource` authenticates (it cannot send headers): HttpOnly
    and SameSite=Strict, so only this site's own pages send it. A session acts as its key: the same
    scope, rate limit and per-key stream limit. A missing, expired, signed-out or forged session (or
    one whose key was revoked) is a 401, like a bad key.
    """
    state = app_state(request)
    token = request.cookies.get(SESSION_COOKIE)
    if credentials is not None or not token or not state.settings.dashboard_enabled:
        principal = await _keyed_read(request, credentials)
        assert principal is not None  # public_when_allowed=False: never anonymous
        return principal
    await _rate_limit_unverified(state, client_address(request, state.settings))
    # The primary: a sign-out or revocation must count at once, not after replication lag.
    async with state.db.primary.connect() as conn:
        session = await load_session(conn, token)
    if session is None:
        raise ApiError(
            401,
            "the dashboard session is missing, expired or signed out: sign in again",
            headers={"WWW-Authenticate": 'Bearer realm="walletsync"'},
        )
    principal = session.principal
    request.state.api_key_name = principal.name
    if not principal.scope.allows(Scope.READ):
        raise ApiError(403, f"the stream needs the read scope; this session has {principal.scope.value}")
    await _rate_limit(state, f"key:{principal.key_id}")
    await check_request(request)
    return principal


setattr(stream_reader, AUTHENTICATES, True)
StreamReader = Annotated[Principal, Depends(stream_reader)]


@router.get(
    "/stream",
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "An endless stream of events."},
        **error_responses(401, 403, 422, 429, 500),
    },
    summary="Live events (Server-Sent Events)",
)
async def stream(
    request: Request,
    state: StateDep,
    principal: StreamReader,
    wallet_id: WalletFilter = None,
    group: GroupFilter = None,
    topic: TopicFilter = None,
    after: After = None,
    last_event_id: Annotated[
        str | None,
        Header(alias="Last-Event-ID", pattern=r"^[0-9]{1,19}$", description="Resume after this id."),
    ] = None,
) -> EventSourceResponse:
    """Events as they are published. `id:` is the stream position; a reconnecting client (browsers do
    this themselves) sends it back as `Last-Event-ID` and gets every event after it from the outbox
    (within `WALLETSYNC_EVENT_RETENTION`), none twice. `curl -N -H "Authorization: Bearer $KEY" URL`.
    Without the header, the dashboard's session cookie (`walletsync_session`) is accepted instead."""
    resume = after
    if last_event_id is not None:
        resume = int(last_event_id)
    hub = hub_of(request.app)
    key = f"key:{principal.key_id}"
    try:
        hub.acquire(key)
    except TooManyStreams as exc:
        raise ApiError(429, str(exc), title="Too many live streams") from None
    filters = filters_of(wallet_id, group, topic)

    async def events() -> AsyncIterator[ServerSentEvent | bytes]:
        try:
            async with hub.subscribe_lists(filters, after=resume, kind="sse") as feed:
                yield ServerSentEvent(comment="connected")
                async for ready in feed:  # what is ready at once goes out in one write
                    yield b"".join(sse_frame(event) for event in ready)
        except StreamClosed as closed:
            yield ServerSentEvent(data=json.dumps({"reason": closed.reason}), event="close")
        finally:
            hub.release(key)

    return EventSourceResponse(
        events(), ping=PING_S, headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )


def _ws_params(ws: WebSocket) -> tuple[Filters, int | None]:
    """The WebSocket's filters and resume point from its query string (`ValueError` names a bad one)."""
    params = ws.query_params
    unknown = set(params) - {"wallet_id", "group", "topic", "after"}
    if unknown:
        raise ValueError(f"unknown query parameter {sorted(unknown)[0]!r}")
    try:
        wallet_ids = [int(v) for v in params.getlist("wallet_id")]
        after = int(params["after"]) if "after" in params else None
    except ValueError:
        raise ValueError("wallet_id and after must be integers") from None
    topics = params.getlist("topic")
    bad = sorted(set(topics) - set(TOPICS))
    if bad:
        raise ValueError(f"unknown topic {bad[0]!r}")
    return filters_of(wallet_ids, params.getlist("group"), topics), after


async def _pump_until_disconnect(ws: WebSocket, feed: AsyncIterator[StoredEvent]) -> None:
    """Send the feed's events until the client goes away (noticed by reading: the feed may be idle)."""

    async def pump() -> None:
        async for event in feed:
            await ws.send_text(f'{{"seq":{event.seq},"event":{event.body.decode()}}}')

    async def watch() -> None:
        while (await ws.receive())["type"] != "websocket.disconnect":
            pass  # the client has nothing more to say; anything it sends is ignored

    sender = asyncio.create_task(pump())
    watcher = asyncio.create_task(watch())
    try:
        done, _ = await asyncio.wait({sender, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sender, watcher):
            task.cancel()
        await asyncio.gather(sender, watcher, return_exceptions=True)
    if sender in done:
        sender.result()  # StreamClosed (dropped, shutting down) or a send error


async def websocket(ws: WebSocket) -> None:
    """Events as JSON text frames `{"seq", "event"}`; authenticate with `Authorization: Bearer`.

    A plain Starlette route: FastAPI's app-wide HTTP dependencies do not apply to WebSockets, so the
    query is read and checked here (same names as the SSE route).
    """
    state = app_state(ws)  # type: ignore[arg-type]
    header = ws.headers.get("authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else ""
    principal = await authenticate(state, token) if token else None
    if principal is None or not principal.scope.allows(Scope.READ):
        await ws.close(code=1008, reason="a read API key is required: send Authorization: Bearer <key>")
        return
    try:
        filters, after = _ws_params(ws)
    except ValueError as exc:
        await ws.close(code=1008, reason=str(exc)[:120])
        return
    hub = hub_of(ws.app)
    key = f"key:{principal.key_id}"
    try:
        hub.acquire(key)
    except TooManyStreams as exc:
        await ws.close(code=1008, reason=str(exc)[:120])
        return
    try:
        await ws.accept()
        # The client may say where to resume, as its first message.
        with contextlib.suppress(TimeoutError):
            first = await asyncio.wait_for(ws.receive_text(), FIRST_MESSAGE_WAIT_S)
            with contextlib.suppress(ValueError, TypeError, AttributeError):
                given = json.loads(first).get("after")
                if isinstance(given, int) and not isinstance(given, bool) and given >= 0:
                    after = given
        async with hub.subscribe(filters, after=after, kind="ws") as feed:
            await ws.send_text(json.dumps({"type": "ready"}))
            await _pump_until_disconnect(ws, feed)
    except StreamClosed as closed:
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await ws.close(
                code=SLOW_CLOSE_CODE if "slow" in closed.reason else 1001, reason=closed.reason[:120]
            )
    except WebSocketDisconnect:
        pass
    finally:
        hub.release(key)


router.routes.append(WebSocketRoute("/v1/events/ws", websocket, name="events_ws"))
