"""Schemathesis hooks for `test_fuzz.py` (loaded by `st run` through SCHEMATHESIS_HOOKS).

A schema-valid request refused with 422 (ST202) is accepted only when every field the API names is
one of the rules JSON Schema cannot state; any other refusal of schema-valid data still fails the run.
"""

from __future__ import annotations

from typing import Any

import schemathesis

# (field, start of the API's message): why the OpenAPI document cannot say it.
UNSTATABLE = (
    ("query.from", "must not be after"),  # an order between two parameters (`from` <= `to`)
    ("query.since", "must not be after"),  # the same for `since` <= `until`
    ("body.address", ""),  # a checksum (base58 length, bech32), and which chain's format applies
)


# Per operation, the start of a problem's `detail` for a rule that depends on the world, not the request.
UNSTATABLE_DETAIL = {
    # A webhook target must resolve, and only to public addresses (SSRF guard): DNS decides.
    "POST /v1/webhooks": ("webhook URL ", "cannot resolve "),
}


# Refused in every string, stated once in docs/api.md rather than as a pattern on each string type:
# PostgreSQL text cannot hold U+0000 (the API answers 422 naming the field).
NUL_MESSAGE = "must not contain a NUL character"


def _unstatable(error: Any) -> bool:
    field, message = error.get("field"), str(error.get("message", ""))
    if message.startswith(NUL_MESSAGE):
        return True
    return any(field == name and message.startswith(start) for name, start in UNSTATABLE)


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    """Keep every failure except ST202 whose 422 names only unstatable rules."""
    if getattr(failure, "code", None) != "ST202" or response.status_code != 422:
        return True
    try:
        problem = response.json()
    except ValueError:
        return True
    errors = problem.get("errors") or []
    if errors and all(_unstatable(error) for error in errors):
        return False
    detail = str(problem.get("detail", ""))
    starts = UNSTATABLE_DETAIL.get(case.operation.label, ())
    return not (detail.startswith(starts) or (starts and "resolves to a private" in detail))
