"""`build_provider_clients`: clients only where URLs are configured, default auth, closed together."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from walletsync.config import load_settings
from walletsync.errors import ConfigError
from walletsync.providers.clients import build_provider_clients
from walletsync.providers.endpoints import display_name
from walletsync.providers.ratelimit import LocalTokenBucket


async def test_clients_for_configured_providers_with_their_auth(tmp_path: Path) -> None:
    """Blockfrost sends `project_id`, Twelve Data `Authorization: apikey`; no Solana URL, no Solana client."""
    seen: dict[str, httpx.Headers] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen[request.url.host] = request.headers
        assert "apikey" not in request.url.params  # the key never travels in the URL
        return httpx.Response(200, json={"ok": True})

    settings = load_settings(
        data_dir=tmp_path,
        solana_rpc_urls="",
        blockfrost_urls="https://bf.test/api/v0",
        blockfrost_project_id="mainnetPROJECT",
        twelvedata_urls="https://td.test",
        twelvedata_api_key="TDKEY123",
    )
    clients = build_provider_clients(settings, transport=httpx.MockTransport(handler))
    async with clients:
        assert clients.solana is None
        assert set(clients.all()) == {"blockfrost", "twelvedata"}
        with pytest.raises(ConfigError, match="solana"):
            clients.get("solana")
        await clients.get("blockfrost").get_json("health")
        await clients.get("twelvedata").get_json("time_series", params={"symbol": "SOL/USD"})
        assert isinstance(clients.get("blockfrost")._limiter, LocalTokenBucket)  # no Redis URL given
        assert {name: [s.url for s in states] for name, states in clients.snapshot().items()} == {
            "blockfrost": [display_name("https://bf.test/api/v0")],
            "twelvedata": [display_name("https://td.test")],
        }
    assert seen["bf.test"]["project_id"] == "mainnetPROJECT"
    assert seen["td.test"]["authorization"] == "apikey TDKEY123"
    assert clients.get("blockfrost")._wire.client.is_closed  # type: ignore[attr-defined]
    assert clients.get("twelvedata")._wire.client.is_closed  # type: ignore[attr-defined]
