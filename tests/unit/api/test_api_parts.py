"""Pure parts of the API: cursors, problem bodies, scopes, the key memo, route templates, timestamps."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError

from walletsync.api.errors import problem_body
from walletsync.api.keys import KeyMemo, Principal, Scope
from walletsync.api.middleware import route_template
from walletsync.api.params import Timestamp, as_utc, cursor_pattern, decode_cursor, encode_cursor


def test_cursor_round_trip_and_kind_check() -> None:
    """A cursor decodes to its position for its own listing only; garbage is a 422 naming `query.cursor`."""
    cursor = encode_cursor("transactions", [123, "abc"])
    assert cursor == "transactions.123.abc"
    assert decode_cursor(cursor, "transactions", int, str) == [123, "abc"]
    assert re.fullmatch(cursor_pattern("transactions", int, str), cursor)
    for bad, kind in [
        (cursor, "wallets"),
        ("%%%", "wallets"),
        ("wallets.", "wallets"),
        ("wallets.01", "wallets"),
        ("wallets.1000000000000000000", "wallets"),  # 10^18: past what the pattern allows
        ("wallets.1.2", "wallets"),
    ]:
        with pytest.raises(RequestValidationError) as caught:
            decode_cursor(bad, kind, int)
        assert caught.value.errors()[0]["loc"] == ("query", "cursor")
        assert not re.fullmatch(cursor_pattern("wallets", int), bad)
    assert decode_cursor("wallets.999999999999999999", "wallets", int) == [10**18 - 1]
    with pytest.raises(ValueError, match="cannot be a cursor position"):
        encode_cursor("transactions", [1, "a.b"])


def test_problem_body_shape() -> None:
    """Problem bodies carry type (a URN from the title), title, status and detail."""
    body = json.loads(problem_body(404, "Wallet not found", "no wallet with id 3"))
    assert body == {
        "type": "urn:walletsync:problem:wallet-not-found",
        "title": "Wallet not found",
        "status": 404,
        "detail": "no wallet with id 3",
    }


def test_scopes_are_ordered() -> None:
    """admin > write > read."""
    assert Scope.ADMIN.allows(Scope.WRITE)
    assert Scope.WRITE.allows(Scope.READ)
    assert not Scope.READ.allows(Scope.WRITE)
    assert not Scope.WRITE.allows(Scope.ADMIN)


def test_key_memo_expires_on_its_clock() -> None:
    """A verified key is remembered for `ttl` seconds, then looked up again."""
    now = [0.0]
    memo = KeyMemo(ttl=5.0, clock=lambda: now[0])
    principal = Principal(key_id=1, name="k", scope=Scope.READ)
    memo.put("h", principal)
    assert memo.get("h") == principal
    now[0] = 4.9
    assert memo.get("h") == principal
    now[0] = 5.0
    assert memo.get("h") is None


def test_route_template_never_uses_the_raw_path() -> None:
    """Unmatched requests are labelled `unmatched`, not by their (unbounded) path."""
    assert route_template({"path": "/v1/wallets/123456"}) == "unmatched"
    assert route_template({"path": "/openapi.json"}) == "/openapi.json"


def test_timestamps_are_iso_only_and_become_utc() -> None:
    """Query timestamps accept ISO 8601 only (not Unix seconds); naive ones are UTC."""
    adapter: TypeAdapter[datetime] = TypeAdapter(Timestamp)
    parsed = adapter.validate_python("2026-01-02T03:04:05")
    assert as_utc(parsed, "at") == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    for bad in ("0.0", "1700000000", "yesterday"):
        with pytest.raises(ValidationError):
            adapter.validate_python(bad)
