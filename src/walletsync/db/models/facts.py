"""Wallets and what is indexed for them: sync state, transactions, assets, balance deltas, the
per-wallet transaction list, current balances and staking positions.

Facts (`transactions`, `balance_deltas`) are insert-only; balances and values are computed from them
(`current_balances` is their running sum, maintained by database triggers). Tables that grow with
wallets carry `wallet_id` or `chain` in their key so they can be hash partitioned by that column later.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    Numeric,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSON, JSONB

from walletsync.db.models.base import CHAIN_CHECK, created_at, metadata

wallets = Table(
    "wallets",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("chain", Text, nullable=False),
    Column("address", Text, nullable=False),
    Column("label", Text),
    Column("group_name", Text),
    created_at(),
    UniqueConstraint("chain", "address"),
    CheckConstraint(CHAIN_CHECK, name="chain"),
    Index("ix_wallets_group_name", "group_name"),
)

sync_state = Table(
    "sync_state",
    metadata,
    Column("wallet_id", BigInteger, ForeignKey("wallets.id", ondelete="CASCADE"), primary_key=True),
    Column("cursor", JSONB),
    Column("last_height", BigInteger),
    Column("last_synced_at", DateTime(timezone=True)),
    Column("status", Text, nullable=False, server_default="pending"),
    Column("error", Text),
    Column("tx_count", BigInteger, nullable=False, server_default="0"),
    Column("next_sync_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("status IN ('pending', 'running', 'ok', 'error')", name="status"),
    Index("ix_sync_state_next_sync_at", "next_sync_at"),
)

transactions = Table(
    "transactions",
    metadata,
    Column("chain", Text, nullable=False),
    Column("tx_id", Text, nullable=False),
    Column("height", BigInteger),
    Column("block_time", DateTime(timezone=True)),
    Column("fee", Numeric(40, 0), nullable=False),
    Column("success", Boolean, nullable=False),
    # Cardano: the block that holds it; a rollback check compares it with the chain's answer now.
    Column("block_hash", Text),
    # The provider's own JSON text, as `json` compressed with lz4 where the server has it (0018).
    Column("raw", JSON),
    Column("indexed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("chain", "tx_id"),
    CheckConstraint(CHAIN_CHECK, name="chain"),
)

assets = Table(
    "assets",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("chain", Text, nullable=False),
    Column("asset_key", Text, nullable=False),
    Column("symbol", Text),
    Column("name", Text),
    Column("decimals", Integer),
    Column("metadata", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("refreshed_at", DateTime(timezone=True)),
    UniqueConstraint("chain", "asset_key"),
    CheckConstraint(CHAIN_CHECK, name="chain"),
    # The periodic metadata refresh reads the stalest (never refreshed first) up to a limit (0014).
    Index("ix_assets_refreshed_at", text("refreshed_at ASC NULLS FIRST"), "id"),
)

balance_deltas = Table(
    "balance_deltas",
    metadata,
    Column("wallet_id", BigInteger, ForeignKey("wallets.id", ondelete="CASCADE"), nullable=False),
    Column("chain", Text, nullable=False),
    Column("tx_id", Text, nullable=False),
    Column("asset_id", BigInteger, ForeignKey("assets.id"), nullable=False),
    Column("amount", Numeric(40, 0), nullable=False),
    # Denormalized from the (immutable) transaction so balances at a point in time and activity
    # leaderboards read one table.
    Column("block_time", DateTime(timezone=True)),
    Column("height", BigInteger),
    PrimaryKeyConstraint("wallet_id", "tx_id", "asset_id"),
    ForeignKeyConstraint(
        ["chain", "tx_id"],
        ["transactions.chain", "transactions.tx_id"],
        name="fk_balance_deltas_chain_tx_id_transactions",
    ),
    Index("ix_balance_deltas_wallet_time", "wallet_id", "block_time"),
    Index("ix_balance_deltas_chain_tx_id", "chain", "tx_id"),
)

wallet_transactions = Table(
    "wallet_transactions",
    metadata,
    # Which wallet saw which transaction, even when it changed no balance of that wallet (e.g. a
    # failed transaction paid by someone else). Newest-first listings page on (height, tx_id).
    Column("wallet_id", BigInteger, ForeignKey("wallets.id", ondelete="CASCADE"), nullable=False),
    Column("chain", Text, nullable=False),
    Column("tx_id", Text, nullable=False),
    Column("height", BigInteger, nullable=False),
    Column("block_time", DateTime(timezone=True)),
    # The fee this wallet paid: the transaction's fee when it is the fee payer, else 0 (NULL: a row
    # from before 0006 whose payer could not be told from the stored raw transaction).
    Column("fee", Numeric(40, 0)),
    PrimaryKeyConstraint("wallet_id", "tx_id"),
    ForeignKeyConstraint(
        ["chain", "tx_id"],
        ["transactions.chain", "transactions.tx_id"],
        name="fk_wallet_transactions_chain_tx_id_transactions",
    ),
    Index("ix_wallet_transactions_wallet_height", "wallet_id", "height", "tx_id"),
    Index("ix_wallet_transactions_wallet_time", "wallet_id", "block_time"),
    # Activity leaderboard: transactions since a time over all wallets, read from the index alone.
    Index("ix_wallet_transactions_block_time", "block_time", postgresql_include=["wallet_id", "chain"]),
)

current_balances = Table(
    "current_balances",
    metadata,
    # sum(balance_deltas.amount) per wallet and asset, kept by triggers on balance_deltas (revision
    # 0010) in the transaction that writes the deltas, so current reads cost O(assets), not
    # O(history). Never written by application code. Zero rows stay; reads filter them.
    Column("wallet_id", BigInteger, ForeignKey("wallets.id", ondelete="CASCADE"), nullable=False),
    Column("asset_id", BigInteger, ForeignKey("assets.id"), nullable=False),
    Column("amount", Numeric(40, 0), nullable=False),
    PrimaryKeyConstraint("wallet_id", "asset_id"),
    # The value board reads the rows of a few priced assets (revision 0017).
    Index("ix_current_balances_asset_id", "asset_id"),
)

staking_balances = Table(
    "staking_balances",
    metadata,
    # Native staking as last observed (revision 0013): state, not facts. No transaction moves these
    # amounts (Solana rewards compound into the stake account at epoch boundaries; Cardano rewards
    # accrue to the stake address), so there are no deltas to store: each successful sync of the
    # wallet replaces its rows in one database transaction. One row per live stake account or stake
    # address: bounded by construction, deleted when the account disappears or the wallet goes.
    Column("wallet_id", BigInteger, ForeignKey("wallets.id", ondelete="CASCADE"), nullable=False),
    Column("kind", Text, nullable=False),
    # The Solana stake account, or the Cardano stake address, the amount was read from.
    Column("source", Text, nullable=False),
    Column("asset_id", BigInteger, ForeignKey("assets.id"), nullable=False),
    Column("amount", Numeric(40, 0), nullable=False),
    # When this stake account / stake address was first observed (kept as its amount changes): a
    # value at a time, and value series, count the line (at its current amount) from then on.
    Column("observed_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("wallet_id", "kind", "source"),
    CheckConstraint("kind IN ('staked', 'rewards')", name="kind"),
)
