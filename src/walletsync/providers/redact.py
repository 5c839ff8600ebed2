"""Keeping a provider's credentials out of everything the resilient client says (errors, logs, state).

Keys live in URLs (`/v2/<key>`, `?api-key=`, user info), in headers and in default query parameters;
every text that leaves the client (error details, breaker `last_error`, log fields) goes through
`Scrubber.scrub` first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from walletsync.providers.endpoints import url_secrets

_SECRET_NAME = re.compile(r"key|token|secret|auth|project_id|password", re.IGNORECASE)
MIN_SECRET_LEN = 4  # shorter values would redact ordinary words


class Scrubber:
    """Replaces every known secret of one provider with `[redacted]` (longest first)."""

    def __init__(
        self,
        *,
        api_key: str | None,
        urls: Iterable[str],
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> None:
        secrets = {api_key or ""}
        secrets |= {v for k, v in (headers or {}).items() if _SECRET_NAME.search(k)}
        secrets |= {v for k, v in (params or {}).items() if _SECRET_NAME.search(k)}
        for url in urls:
            secrets |= set(url_secrets(url))
        self._secrets = sorted((s for s in secrets if len(s) >= MIN_SECRET_LEN), key=len, reverse=True)

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "[redacted]")
        return text
