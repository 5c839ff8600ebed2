"""Event bytes written without the general-purpose encoders: same bytes as the libraries produce."""

from __future__ import annotations

import json

import orjson
from sse_starlette import ServerSentEvent

from walletsync.events.delivery import batch_body
from walletsync.events.envelope import StoredEvent
from walletsync.events.streams import sse_frame


def _event(seq: int, text: str) -> StoredEvent:
    # A body with characters JSON escapes (a line break, a quote, non-ASCII): still one line.
    envelope = {"id": str(seq), "type": "tx.indexed", "data": {"memo": text}}
    return StoredEvent(seq, seq, "tx.indexed", 7, None, orjson.dumps(envelope))


def test_sse_frame_is_what_sse_starlette_writes() -> None:
    for seq, text in ((1, "plain"), (42, 'two\nlines "quoted" \u00e9\r\n')):
        event = _event(seq, text)
        expected = ServerSentEvent(data=event.body.decode(), id=str(seq), event="tx.indexed").encode()
        assert sse_frame(event) == expected
        assert b"\n" not in event.body


def test_batch_body_is_the_envelope_of_the_stored_bodies() -> None:
    events = [_event(1, "a"), _event(2, 'b\n"c"')]
    body = batch_body("batch_9", [e.body for e in events])
    assert json.loads(body) == {
        "id": "batch_9",
        "type": "batch",
        "version": 1,
        "count": 2,
        "events": [json.loads(e.body) for e in events],
    }
