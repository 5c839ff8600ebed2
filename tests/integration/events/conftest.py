"""Fixtures for event tests: a real HTTP receiver (uvicorn on a free port) and event writers."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection
from standardwebhooks import Webhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from walletsync.config import Settings, load_settings
from walletsync.db.models import outbox, wallets


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    status: int
    at: float  # time.time() on arrival
    peer: str = ""  # the sender's host:port: one per TCP connection

    def verify(self, secret: str) -> Any:
        """The receiver's few lines from docs/events.md: raises unless signed with `secret`."""
        return Webhook(secret).verify(self.body, self.headers)


@dataclass
class Receiver:
    """An HTTP server recording every POST to /hook and answering `status()` (200 by default)."""

    status: Callable[[], int] = lambda: 200
    calls: list[Received] = field(default_factory=list)
    port: int = 0
    _server: uvicorn.Server | None = None
    _task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    @property
    def accepted(self) -> list[Received]:
        return [c for c in self.calls if 200 <= c.status < 300]

    async def _hook(self, request: Request) -> Response:
        body = await request.body()
        status = self.status()
        peer = f"{request.client.host}:{request.client.port}" if request.client else ""
        self.calls.append(Received(dict(request.headers), body, status, time.time(), peer))
        return Response(status_code=status)

    async def start(self) -> None:
        app = Starlette(routes=[Route("/hook", self._hook, methods=["POST"])])
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        sock.listen(128)  # connections queue from here, before the server task first runs
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.start()
    yield r
    await r.stop()


@pytest.fixture
def event_settings(database_url: str, tmp_path: Path) -> Settings:
    """One pooled connection (so every statement repeats on it) and private targets allowed."""
    return load_settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        redis_url=None,
        auto_migrate=False,
        webhook_allow_private=True,
        database_pool_size=1,
        database_max_overflow=0,
    )


async def add_wallet(conn: AsyncConnection, address: str, *, group: str | None = None) -> int:
    wallet_id: int = await conn.scalar(
        insert(wallets)
        .values(chain="solana", address=address, label=f"w-{address}", group_name=group)
        .returning(wallets.c.id)
    )
    return wallet_id


async def add_tx_events(conn: AsyncConnection, wallet_id: int, address: str, tx_ids: list[str]) -> None:
    """`tx.indexed` rows shaped as `indexing/store.py` writes them."""
    await conn.execute(
        insert(outbox),
        [
            {
                "topic": "tx.indexed",
                "payload": {
                    "wallet_id": wallet_id,
                    "chain": "solana",
                    "address": address,
                    "tx_id": tx_id,
                    "height": 100 + i,
                    "block_time": "2026-11-29T12:00:00+00:00",
                    "success": True,
                    "fee": "5000",
                    "deltas": [{"asset": "native", "amount": "-5000"}],
                },
            }
            for i, tx_id in enumerate(tx_ids)
        ],
    )
