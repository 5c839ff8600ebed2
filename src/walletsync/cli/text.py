"""Stored text (labels, group names, token symbols, provider errors) shown as-is in the terminal.

Rich parses `[red]...[/red]` in plain strings as markup, and a terminal obeys the escape sequences in
a string (`\\x1b[2J` clears the screen). Values that users, chains or providers chose go through
`plain`: a `rich.text.Text` (never parsed as markup) with control characters written out as escapes.
"""

from __future__ import annotations

import re

from rich.text import Text

# C0 controls except tab and newline, DEL, and C1 controls (0x9b is a one-byte CSI).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(value: object) -> str:
    """`value` as text with every control character written as its escape (`\\x1b`)."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), str(value))


def plain(value: object) -> Text:
    """A table cell or message part that prints literally: no markup, no terminal control."""
    return Text(printable(value))
