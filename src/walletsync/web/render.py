"""Rendering: the Jinja2 environment, the dashboard's Content-Security-Policy, versioned static URLs,
and the number formatting the templates share.

The API's middleware adds its own strict headers only where a response has none, so every dashboard
response sets `WEB_CSP` itself: scripts, styles, images and fetches from this origin only, nothing
inline (the pages carry no inline script or style; data reaches the charts through `data-` attributes
and same-origin JSON).
"""

from __future__ import annotations

import functools
import hashlib
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import HTMLResponse

WEB_DIR = Path(__file__).resolve().parent
STATIC_DIR = WEB_DIR / "static"

WEB_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
PAGE_HEADERS = {"content-security-policy": WEB_CSP, "cache-control": "no-store", "vary": "Cookie"}


@functools.cache
def static_version(path: str) -> str:
    """A short content hash of a static file: its URL changes whenever its bytes do, so the file can
    be cached for a year (`immutable`) and still never be stale."""
    return hashlib.sha256((STATIC_DIR / path).read_bytes()).hexdigest()[:12]


def static_url(path: str) -> str:
    return f"/static/{path}?v={static_version(path)}"


def money(value: Decimal | None, quote: str = "") -> str:
    """`12,345.67` (two places; up to six below 1, so small prices do not read as 0.00)."""
    if value is None:
        return "—"
    if abs(value) >= 1 or value == 0:
        text = f"{value:,.2f}"
    else:  # up to 6 places, no trailing zeros past the second
        text = f"{value:,.6f}".rstrip("0")
        text = text + "0" * max(0, 2 - len(text.partition(".")[2]))
    return f"{text} {quote}".strip()


def percent(value: Decimal | None) -> str:
    if value is None:
        return "—"
    return f"{value:+.2f} %"


def when(value: datetime | None) -> str:
    if value is None:
        return "never"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def ago(value: float | None) -> str:
    """A duration in seconds as `42 s`, `5 min`, `3 h`, `2 d`."""
    if value is None:
        return "—"
    seconds = int(value)
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def millis(value: int | None) -> str:
    """A wait in milliseconds as `0 ms`, `850 ms`, `12.3 s`, `4.2 min`."""
    if value is None:
        return "—"
    if value < 1_000:
        return f"{value} ms"
    if value < 60_000:
        return f"{value / 1_000:.1f} s"
    return f"{value / 60_000:.1f} min"


def ratio(value: float | None) -> str:
    """A fraction as a percentage with one decimal (`2.5 %`); `—` when there is nothing to divide."""
    return "—" if value is None else f"{value * 100:.1f} %"


def short(value: str, keep: int = 6) -> str:
    """`AbCdEf…uVwXyZ` for an address or a transaction id."""
    return value if len(value) <= 2 * keep + 1 else f"{value[:keep]}…{value[-keep:]}"


templates = Jinja2Templates(directory=str(WEB_DIR / "templates"))
templates.env.globals["static_url"] = static_url
templates.env.filters.update(
    money=money, percent=percent, when=when, ago=ago, short=short, millis=millis, ratio=ratio
)


def page(request: Request, name: str, context: dict[str, Any], *, status_code: int = 200) -> HTMLResponse:
    """A rendered template with the dashboard's headers."""
    return templates.TemplateResponse(request, name, context, status_code=status_code, headers=PAGE_HEADERS)
