"""The simulator's ASGI application: providers under `/{provider}` and `/e{n}/{provider}`, admin routes.

`/solana`, `/blockfrost`, `/twelvedata` are endpoint index 0; `/e{n}/<provider>` is index n, so one
server offers many distinct endpoint URLs whose faults and outages can differ. Every provider request
first goes through the `FaultInjector` (outage, rate limit at arrival, latency, injected faults),
then to the provider's pure handler. Admin: `GET /_admin/stats`, `POST /_admin/faults` (replace the
`FaultConfig`, JSON body), `POST /_admin/reset` (zero counters), `GET /_admin/ledger` (wallets),
`POST /_admin/reorg` (replace the last N Cardano blocks, `forks.ReorgRequest`).

A plain ASGI callable rather than a Starlette router: every request is dispatched on a (provider,
endpoint index) prefix before anything else, the handlers are framework-free functions of
`SimRequest`, and the hot path (JSON-RPC batches of getTransaction) should carry no extra layers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl

from pydantic import ValidationError

from walletsync.simulator.blockfrost import Blockfrost
from walletsync.simulator.faults import Decision, FaultConfig, FaultInjector
from walletsync.simulator.forks import ReorgRequest, reorg_cardano
from walletsync.simulator.ledger import Ledger
from walletsync.simulator.solana_rpc import SolanaRpc
from walletsync.simulator.twelvedata import TwelveData
from walletsync.simulator.wire import ProviderHandler, SimRequest, SimResponse, json_response

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_PREFIX = re.compile(r"^/(?:e(\d+)/)?(solana|blockfrost|twelvedata)(/.*)?$")
_HTML_ERROR = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1>"
    b"</center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


class DropConnection(Exception):
    """Raised after the response head is sent: the server then closes the socket mid-response."""


class SimulatorApp:
    """The ASGI app. Build it with `create_app`."""

    def __init__(
        self,
        ledger: Ledger,
        faults: FaultInjector,
        *,
        blockfrost_project_id: str | None = None,
        twelvedata_api_key: str | None = None,
    ) -> None:
        self.ledger = ledger
        self.faults = faults
        self.providers: dict[str, ProviderHandler] = {
            "solana": SolanaRpc(ledger.solana),
            "blockfrost": Blockfrost(ledger.cardano, blockfrost_project_id),
            "twelvedata": TwelveData(ledger.market, twelvedata_api_key),
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        if path.startswith("/_admin/"):
            body = await _read_body(receive)
            await _send(send, self.admin(scope["method"], path, body))
            return
        match = _PREFIX.match(path)
        if match is None:
            if path == "/":
                await _send(
                    send, json_response({"simulator": "walletsync", "providers": list(self.providers)})
                )
            else:
                await _send(send, json_response({"detail": "Not Found"}, 404))
            return
        endpoint = int(match.group(1) or 0)
        provider = self.providers[match.group(2)]
        body = await _read_body(receive)
        request = SimRequest(
            method=scope["method"],
            path=match.group(3) or "",
            query=dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)),
            headers={k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])},
            body=body,
        )
        decision = self.faults.decide(provider.name, endpoint, provider.cost(request))
        await self._respond(send, receive, provider, request, decision, endpoint)

    async def _respond(
        self,
        send: Send,
        receive: Receive,
        provider: ProviderHandler,
        request: SimRequest,
        decision: Decision,
        endpoint: int,
    ) -> None:
        kind = decision.kind
        if kind == "outage":
            if decision.variant == "close":
                await _drop(send)
            await _send(send, provider.server_error(503))
            return
        if kind == "rate_limited":
            await _send(send, provider.rate_limited(decision.retry_after_s))
            return
        if kind in ("timeout", "server_error"):
            if decision.latency_s > 0:
                await asyncio.sleep(decision.latency_s)
            if kind == "timeout":
                await _wait_disconnect(receive, decision.hang_s)
                await _drop(send)
            await _send(send, provider.server_error(decision.status))
            return
        # The answer is computed on arrival and sent when the latency has passed, so `latency_ms`
        # is the time a client waits, as with a real provider, not latency plus our own CPU: a
        # burst of 100 calls due together would otherwise queue behind each other's handlers.
        arrived = asyncio.get_running_loop().time()
        response = provider.handle(request)
        if response.status == 200 and response.content_type == "application/json":
            parsed = request.parsed if provider.name == "solana" else None
            response = replace(
                response, body=self.faults.rewrite(provider.name, endpoint, parsed, response.body)
            )
        if kind == "malformed":
            if decision.variant == "html":
                response = SimResponse(200, _HTML_ERROR, "text/html")
            else:
                response = SimResponse(200, response.body[: max(1, len(response.body) // 2)])
        remaining = decision.latency_s - (asyncio.get_running_loop().time() - arrived)
        if remaining > 0:
            await asyncio.sleep(remaining)
        await _send(send, response)

    def admin(self, method: str, path: str, body: bytes) -> SimResponse:
        route = (method, path.rstrip("/"))
        if route == ("GET", "/_admin/stats"):
            return json_response(self.faults.stats())
        if route == ("POST", "/_admin/reset"):
            self.faults.reset()
            return json_response(self.faults.stats())
        if route == ("GET", "/_admin/ledger"):
            return json_response(self.ledger.summary())
        if route == ("POST", "/_admin/reorg"):
            try:
                request = ReorgRequest.model_validate(json.loads(body or b"{}"))
                done = reorg_cardano(self.ledger.cardano, request.depth, drop=request.drop, seed=request.seed)
            except (ValueError, ValidationError) as exc:
                return json_response({"detail": str(exc)}, 422)
            return json_response(done.as_dict())
        if route == ("POST", "/_admin/faults"):
            try:
                config = FaultConfig.model_validate(json.loads(body or b"{}"))
            except (ValueError, ValidationError) as exc:
                return json_response({"detail": str(exc)}, 422)
            self.faults.set_config(config)
            return json_response(config.model_dump(mode="json"))
        return json_response({"detail": "Not Found"}, 404)


def create_app(
    ledger: Ledger,
    faults: FaultInjector | FaultConfig | None = None,
    *,
    blockfrost_project_id: str | None = None,
    twelvedata_api_key: str | None = None,
) -> SimulatorApp:
    """The simulator as an ASGI app over `ledger`, with `faults` (an injector, or a config for a new one)."""
    injector = faults if isinstance(faults, FaultInjector) else FaultInjector(faults)
    return SimulatorApp(
        ledger, injector, blockfrost_project_id=blockfrost_project_id, twelvedata_api_key=twelvedata_api_key
    )


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _send(send: Send, response: SimResponse) -> None:
    headers = [
        (b"content-type", response.content_type.encode()),
        (b"content-length", str(len(response.body)).encode()),
    ]
    headers += [(k.encode(), v.encode()) for k, v in response.headers]
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})


async def _drop(send: Send) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")],
        }
    )
    raise DropConnection


async def _wait_disconnect(receive: Receive, timeout_s: float) -> None:
    """Hang until the client gives up (disconnects) or `timeout_s` passes."""

    async def disconnected() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(disconnected(), timeout_s)


__all__ = ["DropConnection", "SimulatorApp", "create_app"]
