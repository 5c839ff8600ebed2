"""Stacked value lines: running sums over wallets at the total's times (hand-computed expectations)."""

from __future__ import annotations

from walletsync.web.data import stack


def test_stack_sums_wallets_and_carries_a_missing_point_forward() -> None:
    """Wallet B has no point at t=2: it keeps its t=1 value; before its first point it counts 0."""
    a = ("A", [{"time": 1, "value": 10.0}, {"time": 2, "value": 20.0}, {"time": 3, "value": 30.0}])
    b = ("B", [{"time": 1, "value": 1.0}, {"time": 3, "value": 3.0}])
    c = ("C", [{"time": 3, "value": 100.0}])
    out = stack([a, b, c], [1, 2, 3])
    assert [label for label, _ in out] == ["A", "B", "C"]
    assert [p["value"] for p in out[0][1]] == [10.0, 20.0, 30.0]
    assert [p["value"] for p in out[1][1]] == [11.0, 21.0, 33.0]
    assert [p["value"] for p in out[2][1]] == [11.0, 21.0, 133.0]
