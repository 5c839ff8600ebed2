"""What every table module shares: the one `MetaData` (with the constraint naming convention Alembic
relies on), the chains a `chain` column may hold, and the `created_at` column.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    DateTime,
    MetaData,
    func,
)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

CHAINS = ("solana", "cardano")
CHAIN_CHECK = "chain IN ('solana', 'cardano')"


def created_at() -> Column[object]:
    """The `created_at` column many tables carry: set by the database when the row is inserted."""
    return Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now())
