"""Strict readers of the amounts providers send: an amount of the wrong type is an error, never coerced.

`int()` reads `True` as 1, `12.5` as 12, `1.5e30` as a 31-digit integer and `"-3"` as -3; a balance
built from such a reading is silently wrong for good (re-syncs skip the stored transaction). So:
- a Solana lamport amount (`preBalances`, `postBalances`, `fee`, `getBalance`) is a JSON integer
  (not a bool, not a float) within u64;
- a token amount (Solana `uiTokenAmount.amount`, Blockfrost `quantity`, Blockfrost `fees`) is a
  string of decimal digits within u64 (Cardano quantities are u64 too).

`AmountError` names the field (a JSON path such as `meta.preBalances[3]`); adapters add the
transaction and turn it into a one-line `MalformedResponseError`.
"""

from __future__ import annotations

import re
from typing import Any

U64_MAX = 2**64 - 1
_DIGITS = re.compile(r"[0-9]{1,20}")


class AmountError(ValueError):
    """An amount of the wrong type or out of range; `field` is where it was."""

    def __init__(self, field: str, expected: str, value: Any) -> None:
        shown = repr(value)
        if len(shown) > 40:
            shown = shown[:37] + "..."
        super().__init__(f"{field} must be {expected}, got {shown}")
        self.field = field


def u64(value: Any, field: str) -> int:
    """`value` if it is a JSON integer in [0, 2**64); else `AmountError`."""
    if type(value) is not int or not 0 <= value <= U64_MAX:
        raise AmountError(field, "an integer within u64", value)
    return value


def digits_u64(value: Any, field: str) -> int:
    """`value` read as a string of decimal digits within u64; else `AmountError`."""
    if not isinstance(value, str) or not _DIGITS.fullmatch(value) or int(value) > U64_MAX:
        raise AmountError(field, "a string of decimal digits within u64", value)
    return int(value)
