"""Wallets, sync state and the indexed facts (transactions, balance deltas, assets).

Revision ID: 0001
Revises: <base>
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "wallets",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("chain", sa.Text(), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("label", sa.Text(), nullable=True),
        sa.Column("group_name", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("chain IN ('solana', 'cardano')", name=op.f("ck_wallets_chain")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallets")),
        sa.UniqueConstraint("chain", "address", name=op.f("uq_wallets_chain_address")),
    )
    op.create_index("ix_wallets_group_name", "wallets", ["group_name"], unique=False)
    op.create_table(
        "sync_state",
        sa.Column("wallet_id", sa.BigInteger(), nullable=False),
        sa.Column("cursor", postgresql.JSONB(astext_type=Text()), nullable=True),
        sa.Column("last_height", sa.BigInteger(), nullable=True),
        sa.Column("last_synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.Text(), server_default="pending", nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("tx_count", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column(
            "next_sync_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'running', 'ok', 'error')", name=op.f("ck_sync_state_status")
        ),
        sa.ForeignKeyConstraint(
            ["wallet_id"], ["wallets.id"], name=op.f("fk_sync_state_wallet_id_wallets"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("wallet_id", name=op.f("pk_sync_state")),
    )
    op.create_index("ix_sync_state_next_sync_at", "sync_state", ["next_sync_at"], unique=False)
    op.create_table(
        "transactions",
        sa.Column("chain", sa.Text(), nullable=False),
        sa.Column("tx_id", sa.Text(), nullable=False),
        sa.Column("height", sa.BigInteger(), nullable=True),
        sa.Column("block_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fee", sa.Numeric(precision=40, scale=0), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("raw", postgresql.JSONB(astext_type=Text()), nullable=True),
        sa.Column("indexed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("chain IN ('solana', 'cardano')", name=op.f("ck_transactions_chain")),
        sa.PrimaryKeyConstraint("chain", "tx_id", name=op.f("pk_transactions")),
    )
    # Raw provider JSON is ~2 KB a transaction: lz4 compresses it several times faster than the
    # default pglz (bench/backfill.py: +10% throughput). Servers built without lz4 (or older than
    # PostgreSQL 14) keep the default; the statement is dynamic so the block can catch that.
    op.execute(
        """
        DO $$ BEGIN
            EXECUTE 'ALTER TABLE transactions ALTER COLUMN raw SET COMPRESSION lz4';
        EXCEPTION WHEN feature_not_supported OR syntax_error OR invalid_parameter_value THEN NULL;
        END $$
        """
    )
    op.create_table(
        "assets",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("chain", sa.Text(), nullable=False),
        sa.Column("asset_key", sa.Text(), nullable=False),
        sa.Column("symbol", sa.Text(), nullable=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("decimals", sa.Integer(), nullable=True),
        sa.Column(
            "metadata",
            postgresql.JSONB(astext_type=Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("chain IN ('solana', 'cardano')", name=op.f("ck_assets_chain")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assets")),
        sa.UniqueConstraint("chain", "asset_key", name=op.f("uq_assets_chain_asset_key")),
    )
    op.create_table(
        "balance_deltas",
        sa.Column("wallet_id", sa.BigInteger(), nullable=False),
        sa.Column("chain", sa.Text(), nullable=False),
        sa.Column("tx_id", sa.Text(), nullable=False),
        sa.Column("asset_id", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=40, scale=0), nullable=False),
        sa.Column("block_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("height", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["asset_id"], ["assets.id"], name=op.f("fk_balance_deltas_asset_id_assets")),
        sa.ForeignKeyConstraint(
            ["chain", "tx_id"],
            ["transactions.chain", "transactions.tx_id"],
            name="fk_balance_deltas_chain_tx_id_transactions",
        ),
        sa.ForeignKeyConstraint(
            ["wallet_id"],
            ["wallets.id"],
            name=op.f("fk_balance_deltas_wallet_id_wallets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("wallet_id", "tx_id", "asset_id", name=op.f("pk_balance_deltas")),
    )
    op.create_index("ix_balance_deltas_chain_tx_id", "balance_deltas", ["chain", "tx_id"], unique=False)
    op.create_index(
        "ix_balance_deltas_wallet_time", "balance_deltas", ["wallet_id", "block_time"], unique=False
    )
    op.create_table(
        "wallet_transactions",
        sa.Column("wallet_id", sa.BigInteger(), nullable=False),
        sa.Column("chain", sa.Text(), nullable=False),
        sa.Column("tx_id", sa.Text(), nullable=False),
        sa.Column("height", sa.BigInteger(), nullable=False),
        sa.Column("block_time", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["chain", "tx_id"],
            ["transactions.chain", "transactions.tx_id"],
            name="fk_wallet_transactions_chain_tx_id_transactions",
        ),
        sa.ForeignKeyConstraint(
            ["wallet_id"],
            ["wallets.id"],
            name=op.f("fk_wallet_transactions_wallet_id_wallets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("wallet_id", "tx_id", name=op.f("pk_wallet_transactions")),
    )
    op.create_index(
        "ix_wallet_transactions_wallet_height",
        "wallet_transactions",
        ["wallet_id", "height", "tx_id"],
        unique=False,
    )
    op.create_index(
        "ix_wallet_transactions_wallet_time", "wallet_transactions", ["wallet_id", "block_time"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_wallet_transactions_wallet_time", table_name="wallet_transactions")
    op.drop_index("ix_wallet_transactions_wallet_height", table_name="wallet_transactions")
    op.drop_table("wallet_transactions")
    op.drop_index("ix_balance_deltas_wallet_time", table_name="balance_deltas")
    op.drop_index("ix_balance_deltas_chain_tx_id", table_name="balance_deltas")
    op.drop_table("balance_deltas")
    op.drop_table("assets")
    op.drop_table("transactions")
    op.drop_index("ix_sync_state_next_sync_at", table_name="sync_state")
    op.drop_table("sync_state")
    op.drop_index("ix_wallets_group_name", table_name="wallets")
    op.drop_table("wallets")
