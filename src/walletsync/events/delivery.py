"""One webhook delivery attempt: Standard Webhooks signing, the POST, and what its answer means.

Signatures come from the `standardwebhooks` package (`Webhook.sign`): `webhook-signature` holds one
`v1,<base64 HMAC-SHA256 of "id.timestamp.body">` per valid secret, so during a rotation receivers
holding either secret verify. POSTs go through the providers' `ResilientClient` (one per webhook: its
own breaker, concurrency cap, request logs and `walletsync_provider_*{provider="webhook"}` metrics),
over `GuardedTransport` unless private targets are allowed.
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
from standardwebhooks import Webhook as Signer

from walletsync.config import ProviderConfig, Settings
from walletsync.providers.classify import default_classifier
from walletsync.providers.errors import ProviderError, UpstreamNotFoundError
from walletsync.providers.http import ResilientClient

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format prefix, not a secret
SECRET_BYTES = 32
# Seconds to wait after the 1st, 2nd, ... failed attempt; after the last one the delivery is dead.
# Sum: 27.6 h, so a receiver down for a day still gets everything.
RETRY_SCHEDULE_S = (5, 300, 1800, 7200, 18000, 36000, 36000)
MAX_ATTEMPTS = len(RETRY_SCHEDULE_S) + 1
ROTATION_OVERLAP = timedelta(hours=24)
BREAKER_THRESHOLD = 5
BREAKER_COOLDOWN_S = 30.0


BATCH_TYPE = "batch"


def batch_body(msg_id: str, bodies: list[bytes]) -> bytes:
    """The envelope of a batched request: `{"id", "type": "batch", "version", "count", "events"}`.

    Built from the events' stored bytes (each serialized once, in `envelope.py`), not re-encoded;
    `id` is also the request's `webhook-id`. `schemas.EventBatch` documents it."""
    head = b'{"id":"%s","type":"%s","version":1,"count":%d,"events":[' % (
        msg_id.encode(),
        BATCH_TYPE.encode(),
        len(bodies),
    )
    return head + b",".join(bodies) + b"]}"


class WebhookGoneError(UpstreamNotFoundError):
    """The receiver answered 410 Gone: it asks us to stop (the webhook is disabled)."""


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def next_attempt_delay(attempts: int) -> timedelta | None:
    """Wait after `attempts` failed attempts, or None once the delivery is dead."""
    if attempts >= MAX_ATTEMPTS:
        return None
    return timedelta(seconds=RETRY_SCHEDULE_S[attempts - 1])


_signers: dict[str, Signer] = {}


def sign_headers(msg_id: str, body: bytes, keys: list[str], at: datetime) -> dict[str, str]:
    """Standard Webhooks headers for `body`, signed with every key in `keys` (current first)."""
    text = body.decode()
    signatures = []
    for key in keys:
        signer = _signers.get(key)
        if signer is None:
            signer = _signers[key] = Signer(key)
        signatures.append(signer.sign(msg_id=msg_id, timestamp=at.astimezone(UTC), data=text))
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": " ".join(signatures),
    }


def classify(status: int, body: Any, headers: Mapping[str, str]) -> ProviderError | None:
    """Any 2xx is success, whatever the body; 410 asks us to stop; other answers are failures."""
    if 200 <= status < 300:
        return None
    if status == 410:
        return WebhookGoneError("HTTP 410 Gone", http_status=status)
    return default_classifier(status, None, headers)


@dataclass(frozen=True, slots=True)
class Attempt:
    status: int | None  # HTTP status, None when no answer came
    error: str | None  # None on success
    seconds: float

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def gone(self) -> bool:
        return self.status == 410


def webhook_client(
    url: str, settings: Settings, *, clock: Callable[[], float] = time.monotonic
) -> ResilientClient:
    """The resilient client of one webhook target (one endpoint, no client-side retries).

    Its breaker opens after `BREAKER_THRESHOLD` failures in a row and then refuses attempts for
    `BREAKER_COOLDOWN_S` (they fail at once and follow the retry schedule), so a receiver that is down
    is not sent a request per wallet every few seconds.
    """
    config = ProviderConfig(
        name="webhook",
        urls=(url,),
        api_key=None,
        rate=1_000_000.0,  # receivers are not rate limited by us; concurrency is
        burst=1_000_000,
        max_concurrency=settings.webhook_concurrency,
        timeout_s=settings.webhook_timeout_s,
        max_attempts=1,
        backoff_initial_s=0.001,
        backoff_max_s=0.001,  # an open breaker fails the attempt at once (it is rescheduled)
        breaker_failure_threshold=BREAKER_THRESHOLD,
        breaker_cooldown_s=BREAKER_COOLDOWN_S,
        metadata_cache_ttl_s=1.0,
    )
    transport: httpx.AsyncBaseTransport | None = None
    if not settings.webhook_allow_private:
        from walletsync.events.ssrf import GuardedTransport

        transport = GuardedTransport(
            limits=httpx.Limits(max_connections=settings.webhook_concurrency, max_keepalive_connections=8)
        )
    return ResilientClient(
        config,
        classify=classify,
        transport=transport,
        headers={"User-Agent": "walletsync-webhooks"},
        clock=clock,
    )


async def attempt(client: ResilientClient, msg_id: str, body: bytes, keys: list[str]) -> Attempt:
    """POST one signed event; never raises for the receiver's or the network's failures."""
    headers = sign_headers(msg_id, body, keys, datetime.now(UTC))
    started = time.perf_counter()
    try:
        status = await client.post_bytes("", content=body, headers=headers)
    except ProviderError as exc:
        cause = exc.__cause__ if isinstance(exc.__cause__, ProviderError) else exc
        code = cause.http_status if cause.http_status is not None else exc.http_status
        return Attempt(status=code, error=exc.detail[:500], seconds=time.perf_counter() - started)
    return Attempt(status=status, error=None, seconds=time.perf_counter() - started)


async def send_test(url: str, keys: list[str], settings: Settings, *, webhook_id: int) -> Attempt:
    """POST a signed `webhook.test` event (not stored) to `url` now and return the outcome."""
    event_id = f"test_{secrets.token_hex(12)}"
    body = orjson.dumps(
        {
            "id": event_id,
            "type": "webhook.test",
            "version": 1,
            "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "wallet": None,
            "data": {"webhook_id": webhook_id},
        }
    )
    client = webhook_client(url, settings)
    try:
        return await attempt(client, event_id, body, keys)
    finally:
        await client.aclose()
