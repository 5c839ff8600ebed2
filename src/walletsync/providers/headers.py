"""Reading the hints providers put in response headers (today: `Retry-After`) for the error classifiers.

The classifiers receive headers as a plain `Mapping[str, str]` (an `httpx.Headers` is case-insensitive,
a dict built in a test is not), so lookups here ignore case themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


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
    raw = header(headers, "Retry-After")
    if raw is None or not raw.strip():
        return None
    raw = raw.strip()
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now or datetime.now(UTC)
    return max(0.0, (when - current).total_seconds())
