"""Native staking: balance lines for stake accounts and unwithdrawn rewards (issue 11 item 9).

`staking_balances(wallet_id, kind, source, asset_id, amount, observed_at)` holds each wallet's
staking as last observed: Solana stake accounts whose staker or withdrawer authority is the wallet
(`kind = 'staked'`, the account's lamports) and the Cardano stake address's unwithdrawn rewards
(`kind = 'rewards'`, Blockfrost `withdrawable_amount`). It is a snapshot, not a fact table: every
successful sync replaces the wallet's rows in one database transaction, so it holds one row per live
stake account or stake address (retention is bounded by construction) and goes with the wallet.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "staking_balances",
        sa.Column("wallet_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("asset_id", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.Numeric(40, 0), nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('staked', 'rewards')", name=op.f("ck_staking_balances_kind")),
        sa.ForeignKeyConstraint(
            ["wallet_id"],
            ["wallets.id"],
            name=op.f("fk_staking_balances_wallet_id_wallets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["asset_id"], ["assets.id"], name=op.f("fk_staking_balances_asset_id_assets")
        ),
        sa.PrimaryKeyConstraint("wallet_id", "kind", "source", name=op.f("pk_staking_balances")),
    )


def downgrade() -> None:
    op.drop_table("staking_balances")
