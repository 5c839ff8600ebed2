"""Facts that stay true: the fee each wallet paid (only the fee payer pays), the block of each tx.

`transactions.block_hash`: the block holding a Cardano transaction, so a rollback (the chain now
answers another block, or none) is detected and the transaction retracted.

`wallet_transactions.fee`: the transaction's fee when the wallet is its fee payer, else 0. Rows
indexed before this revision are filled from the stored raw transaction where it tells the payer
(Solana: the first account key; Cardano: of the addresses spending inputs, the one whose lovelace
goes down the most; the collateral when the scripts failed); the rest stay NULL and read as the transaction's fee, as before.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BACKFILL_SOLANA = """
UPDATE wallet_transactions AS wt
SET fee = CASE WHEN payer.key = w.address THEN t.fee ELSE 0 END
FROM transactions AS t, wallets AS w,
     LATERAL (SELECT coalesce(
         t.raw #>> '{transaction,message,accountKeys,0,pubkey}',
         t.raw #>> '{transaction,message,accountKeys,0}'
     ) AS key) AS payer
WHERE wt.chain = 'solana' AND t.chain = wt.chain AND t.tx_id = wt.tx_id AND w.id = wt.wallet_id
  AND payer.key IS NOT NULL
"""

# The fee comes out of the spent inputs (the collateral when the scripts failed); of the addresses
# spending, the one whose lovelace goes down the most funds it (as `providers/cardano.py` reads it).
# Stake-address wallets own several payment addresses, not stored: left NULL.
_BACKFILL_CARDANO = """
UPDATE wallet_transactions AS wt
SET fee = CASE WHEN payer.address = w.address THEN t.fee ELSE 0 END
FROM transactions AS t, wallets AS w,
     LATERAL (
         SELECT side.utxo ->> 'address' AS address
         FROM (
             SELECT -1 AS sign, utxo FROM jsonb_array_elements(t.raw -> 'utxos' -> 'inputs') AS utxo
             UNION ALL
             SELECT 1 AS sign, utxo FROM jsonb_array_elements(t.raw -> 'utxos' -> 'outputs') AS utxo
         ) AS side
         CROSS JOIN LATERAL jsonb_array_elements(side.utxo -> 'amount') AS amount
         WHERE coalesce((side.utxo ->> 'reference')::boolean, false) = false
           AND coalesce((side.utxo ->> 'collateral')::boolean, false)
               = (coalesce(t.raw #>> '{tx,valid_contract}', 'true') = 'false')
           AND amount ->> 'unit' = 'lovelace'
         GROUP BY side.utxo ->> 'address'
         HAVING bool_or(side.sign = -1)
         ORDER BY sum(side.sign * (amount ->> 'quantity')::numeric), side.utxo ->> 'address'
         LIMIT 1
     ) AS payer
WHERE wt.chain = 'cardano' AND t.chain = wt.chain AND t.tx_id = wt.tx_id AND w.id = wt.wallet_id
  AND jsonb_typeof(t.raw -> 'utxos' -> 'inputs') = 'array'
  AND jsonb_typeof(t.raw -> 'utxos' -> 'outputs') = 'array'
  AND w.address NOT LIKE 'stake%'
"""


def upgrade() -> None:
    # The block of a Cardano transaction, checked against the chain to detect rollbacks; rows from
    # before this revision take it from the stored raw body where there is one.
    op.add_column("transactions", sa.Column("block_hash", sa.Text(), nullable=True))
    op.execute(
        "UPDATE transactions SET block_hash = raw #>> '{tx,block}' WHERE chain = 'cardano' AND raw IS NOT NULL"
    )
    op.add_column("wallet_transactions", sa.Column("fee", sa.Numeric(40, 0), nullable=True))
    op.execute(_BACKFILL_SOLANA)
    op.execute(_BACKFILL_CARDANO)


def downgrade() -> None:
    op.drop_column("wallet_transactions", "fee")
    op.drop_column("transactions", "block_hash")
