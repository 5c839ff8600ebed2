"""The schema stays ready for sharding by `wallet_id` (Citus): docs/scaling.md, "Sharding".

Every table of the migrated schema is placed in exactly one class below; the test fails when a new
table is in none, or when a table or constraint breaks its class's rule:

- DISTRIBUTED (hash-distributed by `wallet_id`, co-located): a NOT NULL `wallet_id` column, and
  every primary key, unique constraint and unique index includes it (Citus can only enforce
  uniqueness within a shard). Foreign keys go to reference tables, or include `wallet_id`.
- REFERENCE (a full copy on every node): what distributed rows point at and every node reads.
- COORDINATOR (left undistributed on the coordinator): operational tables that do not grow with
  wallets or are bounded by retention (the job queue, the outbox and webhooks, keys, provider state).

Read from `information_schema` (tables, columns, constraints) and `pg_index` (unique indexes that
are not constraints, which `information_schema` does not list).
"""

from __future__ import annotations

import psycopg

DISTRIBUTED = frozenset(
    {"sync_state", "wallet_transactions", "balance_deltas", "current_balances", "staking_balances"}
)
REFERENCE = frozenset(
    {
        "wallets",  # the registry: UNIQUE (chain, address) is global; small; written rarely
        "assets",
        "exchanges",
        "instruments",
        "candles",
        "asset_prices",
        # Shared by every wallet a transaction touches, so it has no wallet_id. A reference table
        # keeps its foreign keys and queries valid on Citus at the cost of a copy per node; the
        # alternatives (distribute by tx_id and drop the keys, or per-wallet copies) are in
        # docs/scaling.md as the step after.
        "transactions",
    }
)
COORDINATOR = frozenset(
    {
        "alembic_version",
        "api_keys",
        "provider_endpoints",
        "provider_credits",
        "job_failures",
        "outbox",
        "webhooks",
        "webhook_deliveries",
        "procrastinate_jobs",
        "procrastinate_events",
        "procrastinate_periodic_defers",
        "procrastinate_workers",
        "web_sessions",  # expire; keyed by token hash
        "web_signin_tokens",
        "provider_stats",  # per endpoint and minute, pruned after WALLETSYNC_PROVIDER_STATS_RETENTION
    }
)

_TABLES = "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
_WALLET_COLUMNS = """
    SELECT table_name, is_nullable FROM information_schema.columns
    WHERE table_schema = 'public' AND column_name = 'wallet_id'
"""
_KEYS = """
    SELECT tc.table_name, tc.constraint_name, tc.constraint_type,
           array_agg(k.column_name::text ORDER BY k.ordinal_position)
    FROM information_schema.table_constraints tc
    JOIN information_schema.key_column_usage k
      ON k.constraint_schema = tc.constraint_schema AND k.constraint_name = tc.constraint_name
     AND k.table_name = tc.table_name
    WHERE tc.table_schema = 'public' AND tc.constraint_type IN ('PRIMARY KEY', 'UNIQUE', 'FOREIGN KEY')
    GROUP BY tc.table_name, tc.constraint_name, tc.constraint_type
"""
_FOREIGN_TARGETS = """
    SELECT rc.constraint_name, u.table_name
    FROM information_schema.referential_constraints rc
    JOIN information_schema.constraint_table_usage u
      ON u.constraint_schema = rc.constraint_schema AND u.constraint_name = rc.constraint_name
    WHERE rc.constraint_schema = 'public'
"""
_UNIQUE_INDEXES = """
    SELECT t.relname, i.relname, array_agg(a.attname::text ORDER BY a.attnum)
    FROM pg_index x
    JOIN pg_class i ON i.oid = x.indexrelid
    JOIN pg_class t ON t.oid = x.indrelid
    JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = 'public'
    LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ANY(x.indkey)
    WHERE x.indisunique AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
    GROUP BY t.relname, i.relname
"""


def _schema(url: str) -> dict[str, list[tuple[object, ...]]]:
    with psycopg.connect(url) as conn:
        return {
            name: list(conn.execute(query))
            for name, query in (
                ("tables", _TABLES),
                ("wallet_columns", _WALLET_COLUMNS),
                ("keys", _KEYS),
                ("foreign_targets", _FOREIGN_TARGETS),
                ("unique_indexes", _UNIQUE_INDEXES),
            )
        }


def distribution_violations(schema: dict[str, list[tuple[object, ...]]]) -> list[str]:
    """Every way the schema breaks the rules of the module docstring, one readable line each."""
    problems: list[str] = []
    tables = {str(row[0]) for row in schema["tables"]}
    classes = (DISTRIBUTED, REFERENCE, COORDINATOR)
    for name in sorted(tables):
        placed = sum(name in c for c in classes)
        if placed != 1:
            problems.append(
                f"{name}: in {placed} of DISTRIBUTED/REFERENCE/COORDINATOR (must be exactly one: place it in "
                "tests/integration/test_distribution_keys.py and docs/scaling.md)"
            )
    wallet_columns = {str(t): str(nullable) for t, nullable in schema["wallet_columns"]}
    for name in sorted(DISTRIBUTED & tables):
        if name not in wallet_columns:
            problems.append(f"{name}: distributed by wallet_id but has no wallet_id column")
        elif wallet_columns[name] != "NO":
            problems.append(f"{name}: wallet_id is nullable (the distribution column must be NOT NULL)")
    targets = {str(c): str(t) for c, t in schema["foreign_targets"]}
    for table_name, constraint, kind, columns in schema["keys"]:
        table_name, constraint, columns_ = str(table_name), str(constraint), list(columns)
        if table_name not in DISTRIBUTED:
            continue
        if kind in ("PRIMARY KEY", "UNIQUE") and "wallet_id" not in columns_:
            problems.append(f"{table_name}: {kind.lower()} {constraint} {columns_} lacks wallet_id")
        if kind == "FOREIGN KEY":
            target = targets.get(constraint, "?")
            if target not in REFERENCE and "wallet_id" not in columns_:
                problems.append(
                    f"{table_name}: foreign key {constraint} to {target} (not a reference table) lacks wallet_id"
                )
    for table_name, index, columns in schema["unique_indexes"]:
        if str(table_name) in DISTRIBUTED and "wallet_id" not in list(columns):
            problems.append(f"{table_name}: unique index {index} {list(columns)} lacks wallet_id")
    return sorted(set(problems))


def test_schema_is_ready_for_distribution_by_wallet_id(database_url: str) -> None:
    """The migrated schema: every table classified, every distributed key carrying wallet_id."""
    schema = _schema(database_url)
    assert distribution_violations(schema) == []
    assert {str(row[0]) for row in schema["tables"]} >= DISTRIBUTED


def test_the_rule_catches_a_table_or_key_that_breaks_it(empty_database_url: str) -> None:
    """A new unclassified table, a distributed table without (or with a nullable) wallet_id, a key or
    unique index without it, and a foreign key to a non-reference table are each reported."""
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE wallets (id bigint PRIMARY KEY)")
        conn.execute("CREATE TABLE job_failures (id bigint PRIMARY KEY)")
        conn.execute(
            "CREATE TABLE balance_deltas (wallet_id bigint NOT NULL, tx_id text, PRIMARY KEY (tx_id))"
        )
        conn.execute("CREATE TABLE sync_state (wallet_id bigint)")
        conn.execute(
            "CREATE TABLE current_balances (wallet_id bigint NOT NULL, asset text, "
            "job bigint REFERENCES job_failures (id), PRIMARY KEY (wallet_id, asset))"
        )
        conn.execute("CREATE UNIQUE INDEX current_by_asset ON current_balances (asset)")
        conn.execute("CREATE TABLE wallet_transactions (tx_id text PRIMARY KEY)")
        conn.execute("CREATE TABLE brand_new_facts (id bigint PRIMARY KEY)")
    assert distribution_violations(_schema(empty_database_url)) == [
        "balance_deltas: primary key balance_deltas_pkey ['tx_id'] lacks wallet_id",
        "brand_new_facts: in 0 of DISTRIBUTED/REFERENCE/COORDINATOR (must be exactly one: place it in "
        "tests/integration/test_distribution_keys.py and docs/scaling.md)",
        "current_balances: foreign key current_balances_job_fkey to job_failures (not a reference table) lacks wallet_id",
        "current_balances: unique index current_by_asset ['asset'] lacks wallet_id",
        "sync_state: wallet_id is nullable (the distribution column must be NOT NULL)",
        "wallet_transactions: distributed by wallet_id but has no wallet_id column",
        "wallet_transactions: primary key wallet_transactions_pkey ['tx_id'] lacks wallet_id",
    ]
