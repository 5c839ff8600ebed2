"""`AiohttpWire`: the default `Wire` of a provider client (why aiohttp: `providers.wire`).

What it keeps of httpx's behaviour, so nothing changes for a user when the transport does:

- failures read the same: an unreachable host or a connection that cannot be had within half the
  timeout is "never sent" (safe to retry even for a non-idempotent call); anything after the
  connection is up (a dropped connection, a truncated or garbled answer) may have been processed;
- proxies: `HTTP_PROXY`/`HTTPS_PROXY`/`NO_PROXY` are honoured, as httpx does. Read once per
  endpoint origin rather than with aiohttp's `trust_env`, which reads them (and `~/.netrc`) in a
  thread on every request: 7% of the client's CPU and a thread hop per call in bench/http_burst.py;
- TLS trusts what httpx trusted: certifi's roots, or `SSL_CERT_FILE`/`SSL_CERT_DIR` when set
  (`httpx.create_ssl_context`; aiohttp alone would use the system store);
- response header lines up to 16 KiB (aiohttp's default is 8 KiB; h11 took more);
- no redirects are followed; gzip/deflate bodies are decompressed;
- idle connections are dropped after 5 s (httpx's keep-alive expiry): servers such as uvicorn close
  theirs at 5 s, and aiohttp re-sends on a stale connection only for GET, never for the JSON-RPC
  POSTs.

The session is made on first use, inside the running event loop that it then belongs to.
"""

from __future__ import annotations

import functools
import os
import re
import ssl
from collections.abc import Mapping

import aiohttp
import httpx
from aiohttp.helpers import get_env_proxy_for_url
from yarl import URL

from walletsync.config import ProviderConfig
from walletsync.providers.wire import DEFAULT_HEADERS, WireAnswer, WireFailure

KEEPALIVE_S = 5.0
HEADER_LIMIT = 16 * 1024
_ORIGIN = re.compile(r"[^:/?#]+://[^/?#]*")


@functools.cache
def tls_context(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    """httpx's context for these `SSL_CERT_FILE`/`SSL_CERT_DIR` values, shared by every wire."""
    return httpx.create_ssl_context()


class AiohttpWire:
    """A `Wire` over one `aiohttp.ClientSession` (made on first use)."""

    def __init__(self, config: ProviderConfig, headers: Mapping[str, str] | None) -> None:
        self._headers = {**DEFAULT_HEADERS, **(headers or {})}
        self._limit = config.max_concurrency + len(config.urls)
        self._connect_timeout_s = config.timeout_s / 2
        self._session: aiohttp.ClientSession | None = None
        # Made here, not on the first call: loading the roots takes 25-30 ms of CPU.
        self._ssl: ssl.SSLContext | bool = (
            tls_context(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
            if any(url.startswith("https:") for url in config.urls)
            else True
        )
        self._proxies: dict[str, tuple[URL | None, aiohttp.BasicAuth | None]] = {}

    def _proxy(self, url: str) -> tuple[URL | None, aiohttp.BasicAuth | None]:
        """The proxy the environment names for `url`'s origin (None: connect directly)."""
        matched = _ORIGIN.match(url)
        origin = matched.group(0) if matched else url
        found = self._proxies.get(origin)
        if found is None:
            try:
                found = get_env_proxy_for_url(URL(origin))
            except LookupError:
                found = (None, None)
            self._proxies[origin] = found
        return found

    def _open(self) -> aiohttp.ClientSession:
        session = self._session
        if session is None or session.closed:
            session = self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=self._limit, keepalive_timeout=KEEPALIVE_S, ssl=self._ssl
                ),
                max_line_size=HEADER_LIMIT,
                max_field_size=HEADER_LIMIT,
                headers=self._headers,
                # The whole exchange is bounded by the caller; only the connection (including the
                # wait for a pooled one) has its own bound, so that a timeout there means "never sent".
                timeout=aiohttp.ClientTimeout(total=None, connect=self._connect_timeout_s),
                trust_env=False,  # proxies: `_proxy`
                raise_for_status=False,
            )
        return session

    async def send(
        self, method: str, url: str, *, content: bytes | None, headers: Mapping[str, str] | None
    ) -> WireAnswer:
        proxy, proxy_auth = self._proxy(url)
        try:
            async with self._open().request(
                method,
                url,
                data=content,
                headers=headers,
                allow_redirects=False,
                proxy=proxy,
                proxy_auth=proxy_auth,
            ) as response:
                body = await response.read()
                return WireAnswer(response.status, response.headers, body)
        except aiohttp.ConnectionTimeoutError as exc:
            raise WireFailure("connect timeout", sent=False, timeout=True, cause=exc) from exc
        except aiohttp.ServerTimeoutError as exc:
            raise WireFailure("read timeout", sent=True, timeout=True, cause=exc) from exc
        except (aiohttp.ClientConnectorError, aiohttp.InvalidURL) as exc:
            raise WireFailure("cannot connect", sent=False, timeout=False, cause=exc) from exc
        except aiohttp.ClientError as exc:
            raise WireFailure("connection lost", sent=True, timeout=False, cause=exc) from exc

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
