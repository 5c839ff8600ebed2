"""Asset metadata refreshed from Metaplex, Token-2022 and Blockfrost (issue 11 item 9).

The periodic refresh (`indexing/asset_refresh.py`) picks the assets whose `refreshed_at` is oldest
(never refreshed first) up to a limit, every hour. This index serves that ordered, limited scan
without reading the whole `assets` table, which grows with every token any wallet ever received.
The columns themselves (symbol, name, decimals, metadata, refreshed_at) exist since 0001.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_assets_refreshed_at",
        "assets",
        [sa.text("refreshed_at ASC NULLS FIRST"), "id"],
    )


def downgrade() -> None:
    op.drop_index("ix_assets_refreshed_at", table_name="assets")
