"""An index on `current_balances(asset_id)` for the value leaderboard.

The board joins `current_balances` to the few priced assets. PostgreSQL estimates that price list
at one row (the quote-currency filter on `instruments` is a guess), so it plans a nested loop that
read all of `current_balances` once per priced asset: at 10,000 wallets x 9 assets and 12 priced
assets, 12 sequential scans of 90,000 rows, 97 ms of the board's 97 ms (`bench/scale.py`, EXPLAIN
ANALYZE). With this index each priced asset reads only its own rows: 29-31 ms. The index holds
`asset_id` alone, never `amount`, so the triggers' updates of a balance stay HOT.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_current_balances_asset_id", "current_balances", ["asset_id"])


def downgrade() -> None:
    op.drop_index("ix_current_balances_asset_id", table_name="current_balances")
