"""What every settings group is built from: variable names (`alias`), comma-separated lists, and the
shared parsing of empty URLs and of durations given as seconds or ISO 8601.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AliasChoices
from pydantic_settings import NoDecode

CommaList = Annotated[list[str], NoDecode]


def alias(*names: str) -> AliasChoices:
    return AliasChoices(*names)


def split_commas(value: object) -> object:
    """`a, b,,c` -> `["a", "b", "c"]`; anything not a string passes through."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def seconds_or_duration(value: object) -> object:
    """A plain number is seconds (like every other duration setting); else ISO 8601 (`P7D`)."""
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return value
    return value


def empty_is_unset(value: object) -> object:
    """An empty (or blank) URL is the same as not setting it."""
    if isinstance(value, str) and not value.strip():
        return None
    return value
