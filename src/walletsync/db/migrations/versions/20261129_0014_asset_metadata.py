"""Asset metadata refreshed from Metaplex, Token-2022 and Blockfrost (issue 11 item 9).

Placeholder in the chain so parallel work streams each own one revision; filled by its stream.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
