"""Market data: exchanges, instruments, their candles (insert-only facts), which instrument prices
which asset, and the paid market-data provider's daily credits.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
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
from sqlalchemy.dialects.postgresql import JSONB

from walletsync.db.models.base import created_at, metadata

exchanges = Table(
    "exchanges",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("kind", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("code", Text, nullable=False, server_default=""),
    Column("country", Text),
    Column("timezone", Text),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("kind", "name", "code"),
    CheckConstraint("kind IN ('stock', 'crypto')", name="kind"),
)

instruments = Table(
    "instruments",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("kind", Text, nullable=False),
    Column("symbol", Text, nullable=False),
    Column("exchange", Text, nullable=False, server_default=""),
    Column("name", Text),
    Column("currency_base", Text),
    Column("currency_quote", Text),
    Column("country", Text),
    Column("instrument_type", Text),
    Column("metadata", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("kind", "symbol", "exchange"),
    CheckConstraint("kind IN ('stock', 'crypto')", name="kind"),
    Index("ix_instruments_symbol", "symbol"),
)

candles = Table(
    "candles",
    metadata,
    Column("instrument_id", BigInteger, ForeignKey("instruments.id", ondelete="CASCADE"), nullable=False),
    Column("interval", Text, nullable=False),
    Column("ts", DateTime(timezone=True), nullable=False),
    Column("open", Numeric, nullable=False),
    Column("high", Numeric, nullable=False),
    Column("low", Numeric, nullable=False),
    Column("close", Numeric, nullable=False),
    Column("volume", Numeric),
    PrimaryKeyConstraint("instrument_id", "interval", "ts"),
    # Latest close per instrument whatever the interval (valuation, leaderboards).
    Index("ix_candles_instrument_ts", "instrument_id", "ts"),
)

asset_prices = Table(
    "asset_prices",
    metadata,
    Column("asset_id", BigInteger, ForeignKey("assets.id", ondelete="CASCADE"), primary_key=True),
    Column("instrument_id", BigInteger, ForeignKey("instruments.id", ondelete="CASCADE"), nullable=False),
    created_at(),
)

provider_credits = Table(
    "provider_credits",
    metadata,
    # A provider's paid credits used per UTC day, shared by every process (API, workers, CLI) through
    # the database, so a daily budget survives restarts. Twelve Data catalogs refresh once a day too.
    Column("provider", Text, nullable=False),
    Column("day", Date, nullable=False),
    Column("used", Integer, nullable=False, server_default="0"),
    Column("catalogs_refreshed_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("provider", "day"),
    CheckConstraint("used >= 0", name="used"),
)
