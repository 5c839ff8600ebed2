"""The schema: SQLAlchemy Core tables for every walletsync table, one module per area, all exported here.

- `base`: the one `MetaData` (naming convention), `CHAINS`, the `created_at` column;
- `facts`: wallets, sync state, transactions, assets, balance deltas, current and staking balances;
- `market`: exchanges, instruments, candles, asset prices, provider credits;
- `events`: the outbox and its sequence, webhooks and their deliveries;
- `operations`: API keys, dashboard sessions and sign-in links, provider endpoints and statistics,
  job failures.

Importers (and Alembic's env, through `metadata`) use `walletsync.db.models` only. The areas are
imported in this order so the tables register in `metadata` in the order they always have.
Facts (`transactions`, `balance_deltas`, `candles`) are insert-only; balances and values are computed
from them. Procrastinate's own tables are not here: its schema is applied by its own migration
revision and excluded from `alembic check`.
"""

from __future__ import annotations

# isort: off
# Registration order in `metadata`: as when the schema was one module (see the docstring).
from walletsync.db.models.base import CHAINS, NAMING_CONVENTION, metadata
from walletsync.db.models.facts import (
    assets,
    balance_deltas,
    current_balances,
    staking_balances,
    sync_state,
    transactions,
    wallet_transactions,
    wallets,
)
from walletsync.db.models.market import asset_prices, candles, exchanges, instruments, provider_credits
from walletsync.db.models.events import outbox, outbox_seq, webhook_deliveries, webhooks
from walletsync.db.models.operations import (
    api_keys,
    job_failures,
    provider_endpoints,
    provider_stats,
    web_sessions,
    web_signin_tokens,
)
# isort: on

__all__ = [
    "CHAINS",
    "NAMING_CONVENTION",
    "api_keys",
    "asset_prices",
    "assets",
    "balance_deltas",
    "candles",
    "current_balances",
    "exchanges",
    "instruments",
    "job_failures",
    "metadata",
    "outbox",
    "outbox_seq",
    "provider_credits",
    "provider_endpoints",
    "provider_stats",
    "staking_balances",
    "sync_state",
    "transactions",
    "wallet_transactions",
    "wallets",
    "web_sessions",
    "web_signin_tokens",
    "webhook_deliveries",
    "webhooks",
]
