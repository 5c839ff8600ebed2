"""Both wires (`providers.wire`) read every answer and failure alike, over real sockets.

The expected outcomes are written by hand from what each failure means for a retry: a request that
cannot have reached the server is "never sent" (`maybe_sent` False), anything after the connection
was up may have been processed. Each case runs over aiohttp (the default) and over httpx with a real
transport (what an injected transport gets).
"""

from __future__ import annotations

import asyncio
import gzip
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from types import SimpleNamespace
from typing import Any

import httpx
import orjson
import pytest
from aiohttp import web

from tests.unit.providers.client_fakes import make_config
from walletsync.config import ProviderConfig
from walletsync.providers.classify import default_classifier
from walletsync.providers.errors import (
    MalformedResponseError,
    ProviderConnectionError,
    ProviderTimeoutError,
    RateLimitedError,
    UpstreamServerError,
)
from walletsync.providers.exchange import Exchanger
from walletsync.providers.redact import Scrubber
from walletsync.providers.request import Outcome, Request
from walletsync.providers.wire import HttpxWire, Wire, http_client
from walletsync.providers.wire_aiohttp import AiohttpWire

TIMEOUT_S = 1.0
WIRES = ["aiohttp", "httpx"]


def _config(url: str) -> ProviderConfig:
    return make_config(name="blockfrost", urls=(url,), api_key="K", max_concurrency=4, timeout_s=TIMEOUT_S)


def _wire(kind: str, url: str) -> Wire:
    config = _config(url)
    if kind == "aiohttp":
        return AiohttpWire(config, {"project_id": "K"})
    return HttpxWire(http_client(config, {"project_id": "K"}, httpx.AsyncHTTPTransport()))


async def _exchange(kind: str, url: str, request: Request | None = None, times: int = 1) -> list[Outcome]:
    wire = _wire(kind, url)
    exchanger = Exchanger(
        "blockfrost",
        wire,
        timeout_s=TIMEOUT_S,
        classify=default_classifier,
        scrubber=Scrubber(api_key="K", urls=[url]),
    )
    endpoint: Any = SimpleNamespace(url=url, name="blockfrost/1")
    request = request or Request("GET", "/txs/abc", None, None, idempotent=True, cost=1)
    try:
        return [(await exchanger.exchange(request, endpoint))[0] for _ in range(times)]
    finally:
        await wire.aclose()


@pytest.fixture
async def app_url() -> AsyncIterator[Callable[[web.Application], Awaitable[str]]]:
    runners: list[web.AppRunner] = []

    async def start(app: web.Application) -> str:
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = runner.addresses[0][1]
        return f"http://127.0.0.1:{port}/api/v0"

    yield start
    for runner in runners:
        await runner.cleanup()


async def _raw_server(handle: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]) -> Any:
    return await asyncio.start_server(handle, "127.0.0.1", 0)


def _url_of(server: Any) -> str:
    return f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/api/v0"


@pytest.mark.parametrize("kind", WIRES)
async def test_answer_body_headers_and_gzip(kind: str, app_url: Any) -> None:
    """A gzip body is decoded; default and auth headers go out; the query is the request's."""
    seen: dict[str, str] = {}

    async def handler(request: web.Request) -> web.Response:
        seen.update(request.headers)
        seen["query"] = repr(dict(request.query))
        body = gzip.compress(orjson.dumps({"hash": "abc", "n": 7}))
        return web.Response(
            body=body, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}
        )

    app = web.Application()
    app.router.add_get("/api/v0/txs/abc", handler)
    url = await app_url(app)
    request = Request("GET", "/txs/abc", {"page": 2, "q": "a b"}, None, idempotent=True, cost=1)
    [outcome] = await _exchange(kind, url, request)
    assert outcome.error is None
    assert outcome.body == {"hash": "abc", "n": 7}
    assert seen["project_id"] == "K"
    assert seen["User-Agent"] == "walletsync"
    assert seen["Accept"] == "application/json"
    assert seen["query"] == repr({"page": "2", "q": "a b"})


@pytest.mark.parametrize("kind", WIRES)
async def test_rate_limit_reads_retry_after_and_redirects_are_not_followed(kind: str, app_url: Any) -> None:
    async def limited(request: web.Request) -> web.Response:
        return web.json_response({"message": "slow down"}, status=429, headers={"Retry-After": "3"})

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound("/api/v0/limited")

    app = web.Application()
    app.router.add_get("/api/v0/limited", limited)
    app.router.add_get("/api/v0/moved", moved)
    url = await app_url(app)
    [limited_outcome] = await _exchange(
        kind, url, Request("GET", "/limited", None, None, idempotent=True, cost=1)
    )
    assert isinstance(limited_outcome.error, RateLimitedError)
    assert limited_outcome.error.retry_after_s == 3.0
    assert not limited_outcome.maybe_sent
    [moved_outcome] = await _exchange(
        kind, url, Request("GET", "/moved", None, None, idempotent=True, cost=1)
    )
    assert isinstance(moved_outcome.error, UpstreamServerError)
    assert moved_outcome.error.http_status == 302


@pytest.mark.parametrize("kind", WIRES)
async def test_malformed_body(kind: str, app_url: Any) -> None:
    async def truncated(request: web.Request) -> web.Response:
        return web.Response(body=b'{"hash": "ab', content_type="application/json")

    app = web.Application()
    app.router.add_get("/api/v0/txs/abc", truncated)
    [outcome] = await _exchange(kind, await app_url(app))
    assert isinstance(outcome.error, MalformedResponseError)
    assert outcome.maybe_sent


@pytest.mark.parametrize("kind", WIRES)
async def test_nothing_listening_is_never_sent(kind: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    [outcome] = await _exchange(kind, f"http://127.0.0.1:{port}/api/v0")
    assert isinstance(outcome.error, ProviderConnectionError), outcome.error
    assert outcome.error.detail.startswith("blockfrost: cannot connect: ")
    assert not outcome.maybe_sent


@pytest.fixture
def full_backlog() -> Iterator[str]:
    """A listener that accepts nothing with its one-slot backlog taken: connects hang (SYNs dropped)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    filler = socket.create_connection(("127.0.0.1", port))
    try:
        yield f"http://127.0.0.1:{port}/api/v0"
    finally:
        filler.close()
        listener.close()


@pytest.mark.parametrize("kind", WIRES)
async def test_connect_timeout_is_never_sent(kind: str, full_backlog: str) -> None:
    """The connection has half the timeout: past it the request cannot have left."""
    started = asyncio.get_running_loop().time()
    [outcome] = await _exchange(kind, full_backlog)
    assert isinstance(outcome.error, ProviderTimeoutError), outcome.error
    assert outcome.error.detail.startswith("blockfrost: connect timeout: ")
    assert not outcome.maybe_sent
    assert asyncio.get_running_loop().time() - started < TIMEOUT_S


@pytest.mark.parametrize("kind", WIRES)
async def test_dropped_connection_may_have_been_processed(kind: str) -> None:
    """The server reads the request and hangs up without a word: it may have acted on it."""

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    server = await _raw_server(hang_up)
    async with server:
        post = Request("POST", "/tx/submit", None, {"cbor": "00"}, idempotent=False, cost=1)
        [outcome] = await _exchange(kind, _url_of(server), post)
    assert isinstance(outcome.error, ProviderConnectionError), outcome.error
    assert outcome.error.detail.startswith("blockfrost: connection lost: ")
    assert outcome.maybe_sent


@pytest.mark.parametrize("kind", WIRES)
async def test_no_answer_is_a_timeout_that_may_have_been_processed(kind: str) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await asyncio.sleep(TIMEOUT_S * 3)
        writer.close()

    server = await _raw_server(silent)
    async with server:
        [outcome] = await _exchange(kind, _url_of(server))
    assert isinstance(outcome.error, ProviderTimeoutError), outcome.error
    assert outcome.maybe_sent


@pytest.mark.parametrize("kind", WIRES)
async def test_connection_closed_by_the_server_while_idle_is_not_an_error(kind: str) -> None:
    """A server that closes idle keep-alive connections (uvicorn: after 5 s) before the next POST:
    the pooled connection is not reused, 12 calls in a row all answer (none lost)."""
    answered = 0

    async def one_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal answered
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            (
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            ),
            0,
        )
        await reader.readexactly(length)
        body = b'{"ok": true}'
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
            % (len(body), body)
        )
        await writer.drain()
        answered += 1
        await asyncio.sleep(0.05)  # keep-alive promised, then the idle connection is closed
        writer.close()

    server = await _raw_server(one_then_close)
    async with server:
        wire = _wire(kind, _url_of(server))
        exchanger = Exchanger(
            "blockfrost",
            wire,
            timeout_s=TIMEOUT_S,
            classify=default_classifier,
            scrubber=Scrubber(api_key=None, urls=[]),
        )
        endpoint: Any = SimpleNamespace(url=_url_of(server), name="blockfrost/1")
        post = Request("POST", "/rpc", None, {"id": 1}, idempotent=False, cost=1)
        try:
            outcomes = []
            for _ in range(12):
                outcomes.append((await exchanger.exchange(post, endpoint))[0])
                await asyncio.sleep(0.15)
        finally:
            await wire.aclose()
    assert [o.error for o in outcomes] == [None] * 12
    assert answered == 12


async def test_proxy_variables_are_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    """HTTP_PROXY routes provider calls through the proxy, as httpx's default transport did (an
    injected httpx transport never read them)."""
    asked: list[bytes] = []

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        asked.append(head.split(b"\r\n")[0])
        body = b'{"via": "proxy"}'
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\nconnection: close\r\n\r\n%s" % (len(body), body)
        )
        await writer.drain()
        writer.close()

    server = await _raw_server(proxy)
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}")
    async with server:
        [outcome] = await _exchange("aiohttp", "http://provider.invalid/api/v0")
    assert outcome.error is None
    assert outcome.body == {"via": "proxy"}
    assert asked == [b"GET http://provider.invalid/api/v0/txs/abc HTTP/1.1"]


@pytest.fixture
def self_signed(tmp_path: Any) -> tuple[str, str]:
    """A certificate for 127.0.0.1 (its own issuer) and its key, made with the openssl CLI."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return str(cert), str(key)


@pytest.mark.parametrize("kind", WIRES)
async def test_tls_trusts_ssl_cert_file_and_refuses_an_unknown_issuer(
    kind: str, self_signed: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """As httpx does: certifi's roots unless SSL_CERT_FILE names others. An untrusted certificate
    fails the handshake, before the request is sent."""
    cert, key = self_signed
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    async def handler(request: web.Request) -> web.Response:
        return web.json_response({"tls": True})

    app = web.Application()
    app.router.add_get("/api/v0/txs/abc", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    url = f"https://127.0.0.1:{runner.addresses[0][1]}/api/v0"
    try:
        monkeypatch.delenv("SSL_CERT_DIR", raising=False)
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)
        [refused] = await _exchange(kind, url)
        monkeypatch.setenv("SSL_CERT_FILE", cert)
        [trusted] = await _exchange(kind, url)
    finally:
        await runner.cleanup()
    assert isinstance(refused.error, ProviderConnectionError), refused.error
    assert not refused.maybe_sent
    assert trusted.error is None
    assert trusted.body == {"tls": True}


@pytest.mark.parametrize("kind", WIRES)
async def test_long_response_headers_are_read(kind: str, app_url: Any) -> None:
    """A 12 KiB header line (large cookies behind some CDNs) is an answer, not a broken connection."""

    async def handler(request: web.Request) -> web.Response:
        return web.json_response({"ok": True}, headers={"X-Padding": "a" * 12_000})

    app = web.Application()
    app.router.add_get("/api/v0/txs/abc", handler)
    [outcome] = await _exchange(kind, await app_url(app))
    assert outcome.error is None, outcome.error
    assert outcome.body == {"ok": True}
