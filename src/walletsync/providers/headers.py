"""Reading the hints providers put in response headers (today: `Retry-After`) for the error classifiers.

The classifiers receive headers as a plain `Mapping[str, str]` (an `httpx.Headers` is case-insensitive,
a dict built in a test or a simulator is not), so lookups here ignore case themselves; the value is
parsed by the client's own `parse_retry_after`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from walletsync.providers.retry import parse_retry_after


def header(headers: Mapping[str, str], name: str) -> str | None:
    """The value of header `name`, whatever the case of the key."""
    value = headers.get(name)
    if value is not None:
        return value
    wanted = name.lower()
    for key, candidate in headers.items():
        if key.lower() == wanted:
            return candidate
    return None


def retry_after_s(headers: Mapping[str, str], *, now: datetime | None = None) -> float | None:
    """Seconds to wait from `Retry-After` (delta-seconds or an HTTP date), or None when absent or unreadable."""
    return parse_retry_after(header(headers, "Retry-After"), now=now)
