"""Issue 15's gap: an event committed between a dashboard page's render and its `EventSource` opening
must still arrive. The page puts its render-time stream position in `data-live-stream` (`after=`);
the stream replays from there. Real app over HTTP, real PostgreSQL, the relay publishing."""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import re

import httpx
import pytest

from tests.integration.events.test_stream_session import _cookie, _session
from tests.integration.events.test_streams import serving
from walletsync.api.app import create_app
from walletsync.api.keys import key_memo
from walletsync.config import Chain, Settings
from walletsync.db.engine import Database
from walletsync.events.relay import Relay
from walletsync.wallets.repository import add_wallet

from .conftest import add_tx_events

WAIT_S = 10
ADDRESS = "G" * 44


def _stream_url(page: str) -> str:
    found = re.search(r'data-live-stream="([^"]+)"', page)
    assert found, "the page has no live stream"
    return html.unescape(found.group(1))


async def _tx_ids(client: httpx.AsyncClient, url: str, token: str, want: int) -> list[str]:
    """The `tx.indexed` events' tx ids the stream sends, until `want` of them (or WAIT_S passes)."""
    got: list[str] = []

    async def read() -> None:
        async with client.stream("GET", url, headers=_cookie(token)) as response:
            assert response.status_code == 200
            async for line in response.aiter_lines():
                if line.startswith("data:"):
                    event = json.loads(line[5:])
                    if event["type"] == "tx.indexed":
                        got.append(event["data"]["tx_id"])
                        if len(got) >= want:
                            return

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(read(), WAIT_S)
    return got


@pytest.mark.parametrize("page", ["wallet", "portfolio"])
async def test_an_event_committed_before_the_stream_opens_is_replayed(
    db: Database, settings: Settings, page: str
) -> None:
    key_memo().clear()
    token, _ = await _session(db)
    relay = Relay(db, settings)
    try:
        async with db.write() as conn:
            wallet = (await add_wallet(conn, chain=Chain.SOLANA, address=ADDRESS)).id
            await add_tx_events(conn, wallet, ADDRESS, ["before-render"])
        await relay.publish_once()  # already published at render: not replayed
        async with (
            serving(create_app(settings, database=db)) as host,
            httpx.AsyncClient(base_url=f"http://{host}", timeout=WAIT_S) as client,
        ):
            path = f"/web/wallets/{wallet}" if page == "wallet" else "/web/?scope=all"
            rendered = await client.get(path, headers=_cookie(token))
            assert rendered.status_code == 200, rendered.text
            url = _stream_url(rendered.text)
            assert "after=" in url
            if page == "portfolio":  # the poller starts from the render's version, waiting for events
                assert re.search(r"seen=[0-9]+\.[0-9]+\.", html.unescape(rendered.text))
                assert "wallet-live from:body" in rendered.text
            # The window: committed and published after the render, before the EventSource opens.
            async with db.write() as conn:
                await add_tx_events(conn, wallet, ADDRESS, ["in-the-window"])
            await relay.publish_once()
            assert await _tx_ids(client, url, token, 1) == ["in-the-window"]
    finally:
        await relay.aclose()
