"""Injected latency is the time a client waits, as with a real provider: the answer is computed when the
request arrives and sent when the latency has passed, so a burst of calls due together does not queue
behind each other's handlers (the simulator's own CPU added to every `latency_ms`)."""

from __future__ import annotations

import asyncio

import httpx

from walletsync.simulator import FaultConfig, FaultRule, Ledger
from walletsync.simulator.app import create_app
from walletsync.simulator.wire import SimRequest, SimResponse


async def test_the_answer_is_computed_on_arrival_and_sent_after_the_latency() -> None:
    ledger = Ledger(seed=5, solana_wallets=0, cardano_wallets=1)
    app = create_app(ledger, FaultConfig(providers={"blockfrost": FaultRule(latency_ms=400)}))
    provider = app.providers["blockfrost"]
    handled: list[str] = []
    handle = provider.handle

    def recording(request: SimRequest) -> SimResponse:
        handled.append(request.path)
        return handle(request)

    provider.handle = recording  # type: ignore[method-assign]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as client:
        call = asyncio.create_task(client.get("/blockfrost/blocks/latest"))
        await asyncio.sleep(0.1)  # well inside the 400 ms latency
        assert handled == ["/blocks/latest"]  # answered on arrival ...
        assert not call.done()  # ... but not sent before the latency has passed
        response = await call
    assert response.status_code == 200
    assert response.json()["height"] == ledger.cardano.tip_height
