"""Alembic migrations on a real PostgreSQL: up, down, idempotence, data safety, models in sync."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, column, create_engine, func, insert, inspect, pool, select, table
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import IntegrityError

from walletsync.db import migrate, models, timescale
from walletsync.db.engine import psycopg_url
from walletsync.providers.endpoints import display_name

# Which tables each revision creates (and so drops on downgrade).
OWNED = {
    "0001": {"wallets", "sync_state", "transactions", "assets", "balance_deltas", "wallet_transactions"},
    "0002": {"exchanges", "instruments", "candles", "asset_prices"},
    "0003": {"outbox", "webhooks", "webhook_deliveries", "api_keys", "provider_endpoints", "job_failures"},
    "0004": {
        "procrastinate_jobs",
        "procrastinate_events",
        "procrastinate_periodic_defers",
        "procrastinate_workers",
    },
    "0005": {"provider_credits"},
    # One revision per work stream of 2026-11-29; each names the tables it creates.
    "0006": set(),
    "0007": set(),
    "0008": set(),
    "0009": set(),
    "0010": {"current_balances"},
    "0011": set(),
    "0012": {"web_sessions", "web_signin_tokens"},
    "0013": {"staking_balances"},
    "0014": set(),
    "0015": {"provider_stats"},
    "0016": set(),
    "0017": set(),
    "0018": set(),
}
ALL_TABLES = set().union(*OWNED.values())
# Tables computed from others when their revision is applied (re-filled on re-upgrade, not empty).
DERIVED = {"current_balances": "balance_deltas"}


@pytest.fixture
def engine(empty_database_url: str) -> Iterator[Engine]:
    eng = create_engine(psycopg_url(empty_database_url), poolclass=pool.NullPool)
    yield eng
    eng.dispose()


def _tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def _seed(engine: Engine) -> None:
    """One row in every table, respecting foreign keys."""
    jobs = table("procrastinate_jobs", column("queue_name"), column("task_name"), column("args", JSONB))
    with engine.begin() as conn:
        wallet_id = conn.scalar(
            insert(models.wallets).values(chain="solana", address="A" * 44).returning(models.wallets.c.id)
        )
        conn.execute(insert(models.sync_state).values(wallet_id=wallet_id, status="ok"))
        conn.execute(insert(models.transactions).values(chain="solana", tx_id="t1", fee=5000, success=True))
        asset_id = conn.scalar(
            insert(models.assets).values(chain="solana", asset_key="native").returning(models.assets.c.id)
        )
        conn.execute(
            insert(models.balance_deltas).values(
                wallet_id=wallet_id, chain="solana", tx_id="t1", asset_id=asset_id, amount=-5000
            )
        )
        conn.execute(
            insert(models.wallet_transactions).values(
                wallet_id=wallet_id, chain="solana", tx_id="t1", height=1
            )
        )
        conn.execute(
            insert(models.staking_balances).values(
                wallet_id=wallet_id,
                kind="staked",
                source="B" * 44,
                asset_id=asset_id,
                amount=1_002_282_880,
                observed_at=func.now(),
            )
        )
        conn.execute(insert(models.exchanges).values(kind="crypto", name="Binance"))
        instrument_id = conn.scalar(
            insert(models.instruments)
            .values(kind="crypto", symbol="SOL/USD")
            .returning(models.instruments.c.id)
        )
        conn.execute(
            insert(models.candles).values(
                instrument_id=instrument_id, interval="1h", ts=func.now(), open=1, high=2, low=1, close=2
            )
        )
        conn.execute(insert(models.asset_prices).values(asset_id=asset_id, instrument_id=instrument_id))
        outbox_id = conn.scalar(
            insert(models.outbox).values(topic="tx.indexed", payload={}).returning(models.outbox.c.id)
        )
        webhook_id = conn.scalar(
            insert(models.webhooks)
            .values(url="http://127.0.0.1/hook", secret="s", topics=["tx.indexed"])
            .returning(models.webhooks.c.id)
        )
        conn.execute(
            insert(models.webhook_deliveries).values(
                webhook_id=webhook_id, outbox_id=outbox_id, wallet_id=wallet_id
            )
        )
        key_id = conn.scalar(
            insert(models.api_keys)
            .values(name="k", key_prefix="ws_", key_hash="h", scopes=["read"])
            .returning(models.api_keys.c.id)
        )
        for web_table in (models.web_sessions, models.web_signin_tokens):
            extra = {"csrf_token": "c"} if web_table is models.web_sessions else {}
            conn.execute(
                insert(web_table).values(token_hash="t", api_key_id=key_id, expires_at=func.now(), **extra)
            )
        conn.execute(insert(models.provider_endpoints).values(provider="solana", url="http://x"))
        conn.execute(
            insert(models.provider_stats).values(
                provider="solana", endpoint="x#abcdef", minute=func.now(), waits=[1, 0, 0, 0, 0]
            )
        )
        conn.execute(insert(models.job_failures).values(job_id=1, task_name="t", attempt=1, error="boom"))
        conn.execute(insert(jobs).values(queue_name="default", task_name="t", args={}))
        conn.execute(insert(models.provider_credits).values(provider="twelvedata", day=func.current_date()))


def _row_counts(engine: Engine, names: set[str]) -> dict[str, int]:
    with engine.connect() as conn:
        return {name: conn.scalar(select(func.count()).select_from(table(name))) or 0 for name in names}


def test_upgrade_creates_every_table_and_is_idempotent(empty_database_url: str, engine: Engine) -> None:
    """`up` creates all tables; a second `up` changes nothing and reports no pending revision."""
    first = migrate.upgrade(empty_database_url)
    assert first.up_to_date
    assert first.current == (migrate.head_revision(),)
    assert _tables(engine) == ALL_TABLES
    _seed(engine)
    before = _row_counts(engine, ALL_TABLES)
    assert all(before[name] == 1 for name in ALL_TABLES - OWNED["0004"])
    assert before["procrastinate_jobs"] == 1
    second = migrate.upgrade(empty_database_url)
    assert second == first
    assert _row_counts(engine, ALL_TABLES) == before


@pytest.mark.parametrize("revision", list(OWNED))
def test_downgrade_then_upgrade_keeps_other_tables_rows(
    empty_database_url: str, engine: Engine, revision: str
) -> None:
    """Reverting one revision drops only its tables; the rest keep their rows; re-applying works."""
    migrate.upgrade(empty_database_url)
    _seed(engine)
    before = _row_counts(engine, ALL_TABLES)
    order = migrate.revisions()
    parent = order[order.index(revision) - 1] if order.index(revision) > 0 else "base"
    # Step down to just below `revision`: every later revision is reverted too.
    later = set().union(*(OWNED[r] for r in order[order.index(revision) :]))
    status = migrate.downgrade(empty_database_url, parent)
    assert status.current == (() if parent == "base" else (parent,))
    assert _tables(engine) == ALL_TABLES - later
    kept = ALL_TABLES - later
    assert _row_counts(engine, kept) == {name: before[name] for name in kept}
    migrate.upgrade(empty_database_url)
    assert _tables(engine) == ALL_TABLES
    assert _row_counts(engine, kept) == {name: before[name] for name in kept}
    refilled = {name for name in later if name in DERIVED and DERIVED[name] in kept}
    assert all(count == 0 for count in _row_counts(engine, later - refilled).values())
    assert _row_counts(engine, refilled) == {name: before[name] for name in refilled}


def test_full_downgrade_to_base_leaves_nothing(empty_database_url: str, engine: Engine) -> None:
    """`down base` removes every walletsync and Procrastinate object, types and functions included."""
    migrate.upgrade(empty_database_url)
    migrate.downgrade(empty_database_url, "base")
    assert _tables(engine) == set()
    with engine.connect() as conn:
        procs = conn.scalar(
            select(func.count())
            .select_from(table("pg_proc", column("proname")))
            .where(column("proname").like("procrastinate%"))
        )
    assert procs == 0


def test_models_match_migrations(database_url: str) -> None:
    """`alembic check`: autogenerate finds no difference between models and the migrated schema."""
    migrate.check(database_url)


def test_concurrent_upgrades_serialize(empty_database_url: str, engine: Engine) -> None:
    """Two processes migrating at once both succeed (advisory lock) and the schema is applied once."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            migrate.upgrade(empty_database_url)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert migrate.status(empty_database_url).up_to_date
    assert _tables(engine) == ALL_TABLES


def test_candles_is_plain_table_without_timescale(database_url: str) -> None:
    """Without the TimescaleDB extension candles stays an ordinary table with its primary key."""
    eng = create_engine(psycopg_url(database_url), poolclass=pool.NullPool)
    try:
        with eng.connect() as conn:
            if timescale.extension_available(conn):
                pytest.skip("TimescaleDB is available here; the hypertable path applies")
            assert not timescale.extension_installed(conn)
        pk = inspect(eng).get_pk_constraint("candles")
        assert pk["constrained_columns"] == ["instrument_id", "interval", "ts"]
    finally:
        eng.dispose()


def test_0009_turns_stored_endpoint_urls_into_display_names(empty_database_url: str, engine: Engine) -> None:
    """A key in a stored endpoint URL's path is gone after 0009; the row keeps its weight under the name
    the client now uses (host + first 6 hex of the URL's SHA-256, computed here with hashlib)."""
    keyed = "https://host.example/v2/SECRETKEY123"
    local = "http://127.0.0.1:9000/e1"
    migrate.upgrade(empty_database_url, "0008")
    with engine.begin() as conn:
        conn.execute(insert(models.provider_endpoints).values(provider="solana", url=keyed, weight=5))
        conn.execute(insert(models.provider_endpoints).values(provider="solana", url=local, weight=0))
    migrate.upgrade(empty_database_url)
    with engine.connect() as conn:
        rows = dict(
            conn.execute(select(models.provider_endpoints.c.url, models.provider_endpoints.c.weight)).all()
        )
    assert rows == {
        "host.example#" + hashlib.sha256(keyed.encode()).hexdigest()[:6]: 5,
        "127.0.0.1:9000#" + hashlib.sha256(local.encode()).hexdigest()[:6]: 0,
    }
    assert set(rows) == {display_name(keyed), display_name(local)}
    assert "SECRETKEY123" not in repr(rows)


def test_0016_adds_webhook_batching_columns_and_takes_them_back(
    empty_database_url: str, engine: Engine
) -> None:
    """A webhook registered before 0016 keeps sending one event per request (`batch_size` 1), sizes
    outside 1..100 are refused, and the downgrade drops both columns but keeps the rows."""
    hooks = table("webhooks", column("url"), column("secret"), column("topics"), column("batch_size"))
    migrate.upgrade(empty_database_url, "0015")
    with engine.begin() as conn:
        conn.execute(insert(hooks).values(url="https://r.example/h", secret="whsec_x", topics=["tx.indexed"]))
    migrate.upgrade(empty_database_url, "0016")
    with engine.begin() as conn:
        assert conn.execute(select(hooks.c.batch_size)).scalars().all() == [1]
    for bad in (0, 101):
        with pytest.raises(IntegrityError, match="ck_webhooks_batch_size"), engine.begin() as conn:
            conn.execute(
                insert(hooks).values(
                    url="https://r.example/b", secret="s", topics=["tx.indexed"], batch_size=bad
                )
            )
    columns = {c["name"] for c in inspect(engine).get_columns("webhook_deliveries")}
    assert "batch_head" in columns
    migrate.downgrade(empty_database_url, "0015")
    inspector = inspect(engine)
    assert "batch_size" not in {c["name"] for c in inspector.get_columns("webhooks")}
    assert "batch_head" not in {c["name"] for c in inspector.get_columns("webhook_deliveries")}
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(table("webhooks"))).scalar() == 1
