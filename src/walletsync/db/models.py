"""The schema in one place: SQLAlchemy Core tables for every walletsync table.

Facts (`transactions`, `balance_deltas`, `candles`) are insert-only; balances and values are computed
from them (`current_balances` is their running sum, maintained by database triggers). Tables that
grow with wallets carry `wallet_id` or `chain` in their key so they can be hash
partitioned by that column later. Procrastinate's own tables are not here: its schema is applied by
its own migration revision and excluded from `alembic check`.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    Sequence,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

CHAINS = ("solana", "cardano")
_chain_check = "chain IN ('solana', 'cardano')"


def _now() -> Column[object]:
    return Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now())


wallets = Table(
    "wallets",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("chain", Text, nullable=False),
    Column("address", Text, nullable=False),
    Column("label", Text),
    Column("group_name", Text),
    _now(),
    UniqueConstraint("chain", "address"),
    CheckConstraint(_chain_check, name="chain"),
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
    Column("raw", JSONB),
    Column("indexed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("chain", "tx_id"),
    CheckConstraint(_chain_check, name="chain"),
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
    CheckConstraint(_chain_check, name="chain"),
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
    _now(),
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

# Events (events/). `outbox` rows are written with the facts they describe; the relay publishes them
# in commit order: `seq` (from `outbox_seq`, assigned under one lock) is the stream position that live
# streams resume from, since `id`s are taken at insert and concurrent transactions commit out of order.
outbox_seq = Sequence("outbox_seq", metadata=metadata)

outbox = Table(
    "outbox",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("topic", Text, nullable=False),
    Column("payload", JSONB, nullable=False),
    _now(),
    Column("published_at", DateTime(timezone=True)),
    Column("seq", BigInteger),
    Index("ix_outbox_unpublished", "id", postgresql_where=text("published_at IS NULL")),
    Index("ix_outbox_seq", "seq", unique=True, postgresql_where=text("seq IS NOT NULL")),
)

webhooks = Table(
    "webhooks",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("url", Text, nullable=False),
    # Signing keys (`whsec_...`): HMAC needs the key itself, so it is stored, never logged or listed.
    Column("secret", Text, nullable=False),
    # After a rotation the old key also signs until `previous_secret_expires_at` (24 h).
    Column("previous_secret", Text),
    Column("previous_secret_expires_at", DateTime(timezone=True)),
    Column("topics", ARRAY(Text), nullable=False),
    # Optional filters: only these wallets, or only wallets of this group (both: either matches).
    Column("wallet_ids", ARRAY(BigInteger)),
    Column("group_name", Text),
    Column("description", Text),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("disabled_reason", Text),
    _now(),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # Events of one wallet per signed request (1: one event per request; more: a batch envelope).
    Column("batch_size", Integer, nullable=False, server_default="1"),
    CheckConstraint("batch_size BETWEEN 1 AND 100", name="batch_size"),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    # One event for one webhook: its state and its last attempt (the delivery log operators read).
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("webhook_id", BigInteger, ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False),
    Column("outbox_id", BigInteger, ForeignKey("outbox.id", ondelete="CASCADE"), nullable=False),
    # The event's wallet: deliveries of one webhook and wallet go out one at a time in outbox order.
    Column("wallet_id", BigInteger, nullable=False),
    Column("status", Text, nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_status", Integer),
    Column("last_error", Text),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("last_attempt_at", DateTime(timezone=True)),
    Column("delivered_at", DateTime(timezone=True)),
    _now(),
    # A batched webhook's batch, fixed when first sent: the id of its first delivery, on every row of
    # it, so a retry carries the same events under the same `webhook-id`. NULL when not batched.
    Column("batch_head", BigInteger),
    UniqueConstraint("webhook_id", "outbox_id"),
    CheckConstraint("status IN ('pending', 'delivered', 'dead')", name="status"),
    Index("ix_webhook_deliveries_due", "next_attempt_at", postgresql_where=text("status = 'pending'")),
    Index(
        "ix_webhook_deliveries_queue",
        "webhook_id",
        "wallet_id",
        "outbox_id",
        postgresql_where=text("status = 'pending'"),
    ),
    Index("ix_webhook_deliveries_outbox_id", "outbox_id"),
    # The oldest pending event (readiness, metrics) and the dead ones (operators) in one index probe.
    Index("ix_webhook_deliveries_pending", "outbox_id", postgresql_where=text("status = 'pending'")),
    Index("ix_webhook_deliveries_dead", "id", postgresql_where=text("status = 'dead'")),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("name", Text, nullable=False),
    Column("key_prefix", Text, nullable=False),
    Column("key_hash", Text, nullable=False),
    Column("scopes", ARRAY(Text), nullable=False),
    _now(),
    Column("revoked_at", DateTime(timezone=True)),
    UniqueConstraint("key_hash"),
    Index("ix_api_keys_key_prefix", "key_prefix"),
)

provider_endpoints = Table(
    "provider_endpoints",
    metadata,
    Column("provider", Text, nullable=False),
    Column("url", Text, nullable=False),
    Column("weight", Integer, nullable=False, server_default="1"),
    Column("breaker_state", Text, nullable=False, server_default="closed"),
    Column("consecutive_failures", Integer, nullable=False, server_default="0"),
    Column("opened_at", DateTime(timezone=True)),
    Column("last_error", Text),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("provider", "url"),
    CheckConstraint("breaker_state IN ('closed', 'open', 'half_open')", name="breaker_state"),
)

provider_stats = Table(
    "provider_stats",
    metadata,
    # Per endpoint and minute, summed over every process (`db.provider_stats`); the operations page
    # reads the last 5 minutes and hour. `endpoint` is the display name `host#hash6`, never a URL.
    Column("provider", Text, nullable=False),
    Column("endpoint", Text, nullable=False),
    Column("minute", DateTime(timezone=True), nullable=False),
    Column("requests", BigInteger, nullable=False, server_default="0"),
    Column("errors", BigInteger, nullable=False, server_default="0"),
    Column("rate_limited", BigInteger, nullable=False, server_default="0"),
    Column("throttle_wait_ms", BigInteger, nullable=False, server_default="0"),
    Column("throttle_wait_max_ms", BigInteger, nullable=False, server_default="0"),
    # Attempts by rate-limit wait: <= 10 ms, <= 100 ms, <= 1 s, <= 10 s, longer (`providers.stats`).
    Column("waits", ARRAY(BigInteger), nullable=False),
    PrimaryKeyConstraint("provider", "endpoint", "minute"),
    # Retention deletes by age, the page reads recent minutes.
    Index("ix_provider_stats_minute", "minute"),
)

job_failures = Table(
    "job_failures",
    metadata,
    # Procrastinate keeps no error text on its job rows; operators and the API read it here.
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("job_id", BigInteger, nullable=False),
    Column("task_name", Text, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("error", Text, nullable=False),
    _now(),
    Index("ix_job_failures_job_id", "job_id"),
    # Retention deletes failures by age (`jobs.retention`).
    Index("ix_job_failures_created_at", "created_at"),
)

# --- web dashboard (0012) ---------------------------------------------------------------------------
# A dashboard session: the browser holds a random token, the table its SHA-256 and the API key it acts
# as, so signing out, expiry and revoking the key each end it at once. Expired rows are deleted on the
# next sign-in (`web/sessions.py`).
web_sessions = Table(
    "web_sessions",
    metadata,
    Column("token_hash", Text, primary_key=True),
    Column("api_key_id", BigInteger, ForeignKey("api_keys.id", ondelete="CASCADE"), nullable=False),
    Column("csrf_token", Text, nullable=False),
    _now(),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Index("ix_web_sessions_expires_at", "expires_at"),
    Index("ix_web_sessions_api_key_id", "api_key_id"),
)

# A one-time sign-in link (`walletsync demo` / `serve` print it): consumed by deleting the row.
web_signin_tokens = Table(
    "web_signin_tokens",
    metadata,
    Column("token_hash", Text, primary_key=True),
    Column("api_key_id", BigInteger, ForeignKey("api_keys.id", ondelete="CASCADE"), nullable=False),
    _now(),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Index("ix_web_signin_tokens_expires_at", "expires_at"),
    Index("ix_web_signin_tokens_api_key_id", "api_key_id"),
)
