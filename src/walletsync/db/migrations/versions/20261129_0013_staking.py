"""Native staking: balance lines for stake accounts and unwithdrawn rewards (issue 11 item 9).

Placeholder in the chain so parallel work streams each own one revision; filled by its stream.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
