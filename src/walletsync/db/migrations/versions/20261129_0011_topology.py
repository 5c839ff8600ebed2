"""Topology: keys ready for distribution by wallet_id.

Nothing to change: the schema already meets the rule (checked on every migrated schema by
tests/integration/test_distribution_keys.py, which also places every table as distributed,
reference or coordinator-local). The fact tables that grow with wallets (`sync_state`,
`wallet_transactions`, `balance_deltas`, `current_balances`) carry a NOT NULL `wallet_id` in
every primary key and unique constraint, and their foreign keys point at reference tables.
What is left (`transactions`, shared by wallets, kept as a reference table for now) is described in
docs/scaling.md. The revision stays in the chain so a later step can land here.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
