"""Scale: current balances maintained with the deltas, an index for the activity leaderboard.

`current_balances(wallet_id, asset_id, amount)` is the sum of `balance_deltas.amount` per wallet and
asset, kept true by statement-level triggers on `balance_deltas` that read the statement's
transition tables: every INSERT, DELETE and UPDATE of deltas (the indexer's batches, the facts
stream's retractions, a wallet's cascaded delete) moves it in the same database transaction, with
no caller having to remember to. One aggregate per statement, not one update per row: a batch of
1,000 deltas costs one grouped upsert.

Rows whose sum went back to zero stay (the reads filter `amount <> 0`); they are bounded by the
(wallet, asset) pairs ever held and deleted with the wallet.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Upserts go in key order so two transactions touching the same rows lock them in the same order
# (no deadlock). The DELETE side only updates: a row can be missing only when the wallet's own
# cascade removed it first, and inserting it back would break the foreign key to `wallets`.
_FUNCTIONS = """
CREATE FUNCTION current_balances_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO current_balances AS cb (wallet_id, asset_id, amount)
    SELECT wallet_id, asset_id, sum(amount) FROM new_deltas
    GROUP BY wallet_id, asset_id ORDER BY wallet_id, asset_id
    ON CONFLICT (wallet_id, asset_id) DO UPDATE SET amount = cb.amount + excluded.amount;
    RETURN NULL;
END $$;

CREATE FUNCTION current_balances_subtract() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM current_balances cb
    WHERE (cb.wallet_id, cb.asset_id) IN (SELECT wallet_id, asset_id FROM old_deltas)
    ORDER BY cb.wallet_id, cb.asset_id FOR UPDATE;
    UPDATE current_balances AS cb SET amount = cb.amount - d.amount
    FROM (SELECT wallet_id, asset_id, sum(amount) AS amount FROM old_deltas GROUP BY wallet_id, asset_id) d
    WHERE cb.wallet_id = d.wallet_id AND cb.asset_id = d.asset_id;
    RETURN NULL;
END $$;

CREATE FUNCTION current_balances_move() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO current_balances AS cb (wallet_id, asset_id, amount)
    SELECT wallet_id, asset_id, sum(amount) FROM (
        SELECT wallet_id, asset_id, amount FROM new_deltas
        UNION ALL
        SELECT wallet_id, asset_id, -amount FROM old_deltas
    ) moved
    GROUP BY wallet_id, asset_id ORDER BY wallet_id, asset_id
    ON CONFLICT (wallet_id, asset_id) DO UPDATE SET amount = cb.amount + excluded.amount;
    RETURN NULL;
END $$;

CREATE FUNCTION current_balances_clear() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM current_balances;
    RETURN NULL;
END $$;
"""

_TRIGGERS = """
CREATE TRIGGER current_balances_insert AFTER INSERT ON balance_deltas
    REFERENCING NEW TABLE AS new_deltas
    FOR EACH STATEMENT EXECUTE FUNCTION current_balances_add();
CREATE TRIGGER current_balances_delete AFTER DELETE ON balance_deltas
    REFERENCING OLD TABLE AS old_deltas
    FOR EACH STATEMENT EXECUTE FUNCTION current_balances_subtract();
CREATE TRIGGER current_balances_update AFTER UPDATE ON balance_deltas
    REFERENCING OLD TABLE AS old_deltas NEW TABLE AS new_deltas
    FOR EACH STATEMENT EXECUTE FUNCTION current_balances_move();
CREATE TRIGGER current_balances_truncate AFTER TRUNCATE ON balance_deltas
    FOR EACH STATEMENT EXECUTE FUNCTION current_balances_clear();
"""

# Triggers first, then the backfill, in this one transaction: CREATE TRIGGER takes a lock that
# waits for every open writer of balance_deltas and holds off new ones until commit, so each delta
# is counted exactly once (by the backfill if it committed before, by the trigger if after).
_BACKFILL = """
INSERT INTO current_balances (wallet_id, asset_id, amount)
SELECT wallet_id, asset_id, sum(amount) FROM balance_deltas GROUP BY wallet_id, asset_id
"""

_DROP = """
DROP TRIGGER IF EXISTS current_balances_insert ON balance_deltas;
DROP TRIGGER IF EXISTS current_balances_delete ON balance_deltas;
DROP TRIGGER IF EXISTS current_balances_update ON balance_deltas;
DROP TRIGGER IF EXISTS current_balances_truncate ON balance_deltas;
DROP FUNCTION IF EXISTS current_balances_add();
DROP FUNCTION IF EXISTS current_balances_subtract();
DROP FUNCTION IF EXISTS current_balances_move();
DROP FUNCTION IF EXISTS current_balances_clear();
"""


def upgrade() -> None:
    op.create_table(
        "current_balances",
        sa.Column("wallet_id", sa.BigInteger(), nullable=False),
        sa.Column("asset_id", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=40, scale=0), nullable=False),
        sa.ForeignKeyConstraint(
            ["asset_id"], ["assets.id"], name=op.f("fk_current_balances_asset_id_assets")
        ),
        sa.ForeignKeyConstraint(
            ["wallet_id"],
            ["wallets.id"],
            name=op.f("fk_current_balances_wallet_id_wallets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("wallet_id", "asset_id", name=op.f("pk_current_balances")),
    )
    op.execute(_FUNCTIONS)
    op.execute(_TRIGGERS)
    op.execute(_BACKFILL)
    # The activity leaderboard counts transactions since a time over all wallets: an index-only
    # range scan on block_time (wallet and chain carried in the index) instead of a full scan.
    op.create_index(
        "ix_wallet_transactions_block_time",
        "wallet_transactions",
        ["block_time"],
        unique=False,
        postgresql_include=["wallet_id", "chain"],
    )


def downgrade() -> None:
    op.drop_index("ix_wallet_transactions_block_time", table_name="wallet_transactions")
    op.execute(_DROP)
    op.drop_table("current_balances")
