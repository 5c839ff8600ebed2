"""Refusing webhook targets inside the network walletsync runs in (SSRF), at registration and at delivery.

A name that resolved to a public address when the webhook was registered may resolve to 127.0.0.1 or
169.254.169.254 later (DNS rebinding), so `GuardedTransport` resolves the host itself on every new
request, refuses any private, loopback, link-local or otherwise non-global address, and connects to
the address it checked (the `Host` header and TLS server name keep the original name). httpx has no
hook between resolution and connection, hence this small transport. `WALLETSYNC_WEBHOOK_ALLOW_PRIVATE=true`
(demo, tests, a receiver on the same host) turns the check off.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

import httpx

from walletsync.errors import InvalidInputError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
RESOLVE_TIMEOUT_S = 5.0


class UnsafeTargetError(InvalidInputError):
    title = "Webhook target refused"


def is_public(address: IPAddress) -> bool:
    """True for a globally routable unicast address (IPv4-mapped IPv6 judged as its IPv4)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast and not address.is_reserved


def check_url(url: str) -> tuple[str, int]:
    """The URL's (host, port) if it is an absolute http(s) URL without credentials; else `InvalidInputError`."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInputError(f"webhook URL must be an absolute http:// or https:// URL, got {url[:200]!r}")
    if parts.username or parts.password:
        raise InvalidInputError("webhook URL must not carry credentials (user:password@)")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise InvalidInputError(f"webhook URL has an invalid port: {url[:200]!r}") from None
    return parts.hostname, port


async def resolve(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT_S):
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UnsafeTargetError(f"cannot resolve {host!r}: {exc.strerror}") from None
    except TimeoutError:
        raise UnsafeTargetError(f"cannot resolve {host!r} within {RESOLVE_TIMEOUT_S:g} s") from None
    # Strip an IPv6 zone index ("fe80::1%eth0") before parsing.
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


async def checked_addresses(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to, or `UnsafeTargetError` if any of them is not public."""
    addresses = await resolve(host, port)
    private = [str(a) for a in addresses if not is_public(a)]
    if private:
        raise UnsafeTargetError(
            f"{host} resolves to a private, loopback or link-local address ({', '.join(private[:3])}); "
            "set WALLETSYNC_WEBHOOK_ALLOW_PRIVATE=true to allow it"
        )
    return addresses


async def check_target(url: str, *, allow_private: bool) -> None:
    """Registration-time check (the transport checks again at every delivery)."""
    host, port = check_url(url)
    if not allow_private:
        await checked_addresses(host, port)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """An httpx transport that connects only to public addresses, checked after resolution."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        try:
            addresses = await checked_addresses(host, request.url.port or 0)
        except UnsafeTargetError as exc:
            raise httpx.ConnectError(exc.detail, request=request) from None
        pinned = str(addresses[0])
        if pinned != host:
            request.url = request.url.copy_with(host=pinned)
            if request.url.scheme == "https":
                request.extensions = {**request.extensions, "sni_hostname": host}
        return await super().handle_async_request(request)
