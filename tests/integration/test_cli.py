"""The operator CLI as a subprocess against a real database: wallets, balances, jobs."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from sqlalchemy import func, insert, select

from tests.support import run_walletsync
from walletsync.db.engine import Database
from walletsync.db.models import (
    assets,
    balance_deltas,
    job_failures,
    staking_balances,
    transactions,
    wallet_transactions,
)
from walletsync.jobs.tables import procrastinate_jobs

SOLANA = "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM"


def cli(database_url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_walletsync(*args, cwd=tmp_path, DATABASE_URL=database_url, WALLETSYNC_DATA_DIR=str(tmp_path))


async def test_wallet_lifecycle_and_balances(db: Database, database_url: str, tmp_path: Path) -> None:
    """add -> list -> balances (from deltas, with decimals) -> remove; duplicates and bad input exit non-zero."""
    added = cli(database_url, tmp_path, "wallets", "add", "--chain", "solana", SOLANA, "--label", "treasury")
    assert added.returncode == 0, added.stderr
    assert f"solana {SOLANA}" in added.stdout
    assert "sync job" in added.stdout

    duplicate = cli(database_url, tmp_path, "wallets", "add", "--chain", "solana", SOLANA)
    assert duplicate.returncode == 4
    assert duplicate.stderr.strip() == f"error: solana wallet {SOLANA} is already tracked"

    bad = cli(database_url, tmp_path, "wallets", "add", "--chain", "cardano", "addr1nothing")
    assert bad.returncode == 2
    assert bad.stderr.strip().startswith("error: 'addr1nothing' is not a Cardano address")
    assert "Traceback" not in bad.stderr

    # Facts as a sync would store them: +2.5 SOL then -0.000005 SOL fee.
    async with db.write() as conn:
        wallet_id = 1
        asset_id = await conn.scalar(
            insert(assets)
            .values(chain="solana", asset_key="native", symbol="SOL", decimals=9)
            .returning(assets.c.id)
        )
        for tx_id, height, amount in (("a", 1, 2_500_000_000), ("b", 2, -5_000)):
            await conn.execute(
                insert(transactions).values(
                    chain="solana", tx_id=tx_id, height=height, fee=5000, success=True
                )
            )
            await conn.execute(
                insert(wallet_transactions).values(
                    wallet_id=wallet_id, chain="solana", tx_id=tx_id, height=height
                )
            )
            await conn.execute(
                insert(balance_deltas).values(
                    wallet_id=wallet_id, chain="solana", tx_id=tx_id, asset_id=asset_id, amount=amount
                )
            )
        # A stake account observed at the last sync: its own line, kind staked.
        await conn.execute(
            insert(staking_balances).values(
                wallet_id=wallet_id,
                kind="staked",
                source="Stake1",
                asset_id=asset_id,
                amount=7_000_000_000,
                observed_at=func.now(),
            )
        )
    listed = cli(database_url, tmp_path, "wallets", "list")
    assert listed.returncode == 0
    assert "treasury" in listed.stdout
    assert "1 tracked wallet(s)" in listed.stdout

    balances = cli(database_url, tmp_path, "balances", SOLANA)
    assert balances.returncode == 0, balances.stderr
    assert "2.499995000" in balances.stdout
    assert "2499995000" in balances.stdout
    assert re.search(r"native\W+SOL\W+liquid\W+2\.499995000\W+2499995000", balances.stdout)
    assert re.search(r"native\W+SOL\W+staked\W+7\.000000000\W+7000000000", balances.stdout)
    by_label = cli(database_url, tmp_path, "balances", "treasury")
    assert by_label.returncode == 0, by_label.stderr
    assert "2499995000" in by_label.stdout
    twin = "So11111111111111111111111111111111111111112"
    assert (
        cli(
            database_url, tmp_path, "wallets", "add", "-c", "solana", twin, "--label", "treasury", "--no-sync"
        ).returncode
        == 0
    )
    ambiguous = cli(database_url, tmp_path, "balances", "treasury")
    assert ambiguous.returncode == 4
    message = ambiguous.stderr.strip()
    assert message.startswith("error: label 'treasury' names several wallets (1, ")
    assert message.endswith("): use an id or address")
    assert cli(database_url, tmp_path, "wallets", "remove", twin, "--yes").returncode == 0

    unconfirmed = cli(database_url, tmp_path, "wallets", "remove", SOLANA)  # stdin is not a terminal
    assert unconfirmed.returncode == 2
    assert unconfirmed.stderr.strip().endswith("Not confirmed (no terminal): pass --yes")
    assert "1 tracked wallet(s)" in cli(database_url, tmp_path, "wallets", "list").stdout
    removed = cli(database_url, tmp_path, "wallets", "remove", SOLANA, "-y")
    assert removed.returncode == 0
    missing = cli(database_url, tmp_path, "balances", SOLANA)
    assert missing.returncode == 3
    assert missing.stderr.strip() == f"error: no tracked wallet with address or label {SOLANA}"


async def test_dead_letter_list_and_retry(db: Database, database_url: str, tmp_path: Path) -> None:
    """`jobs failed` shows the failed job with its recorded error; `jobs retry` requeues it."""
    async with db.write() as conn:
        job_id = await conn.scalar(
            insert(procrastinate_jobs)
            .values(
                queue_name="sync",
                task_name="sync_wallet",
                priority=0,
                args={"wallet_id": 7},
                status="failed",
                attempts=5,
                abort_requested=False,
            )
            .returning(procrastinate_jobs.c.id)
        )
        await conn.execute(
            insert(job_failures).values(
                job_id=job_id, task_name="sync_wallet", attempt=5, error="RateLimitedError: blockfrost: boom"
            )
        )
    failed = cli(database_url, tmp_path, "jobs", "failed")
    assert failed.returncode == 0, failed.stderr
    assert "RateLimitedError: blockfrost: boom" in failed.stdout
    assert "1 job(s) with status failed" in failed.stdout

    retried = cli(database_url, tmp_path, "jobs", "retry", str(job_id))
    assert retried.returncode == 0, retried.stderr
    async with db.read() as conn:
        status, attempts = (
            await conn.execute(
                select(procrastinate_jobs.c.status, procrastinate_jobs.c.attempts).where(
                    procrastinate_jobs.c.id == job_id
                )
            )
        ).one()
    assert (str(status), attempts) == ("todo", 0)

    again = cli(database_url, tmp_path, "jobs", "retry", str(job_id))
    assert again.returncode == 4
    assert "only failed jobs can be retried" in again.stderr
    unknown = cli(database_url, tmp_path, "jobs", "retry", "999999")
    assert unknown.returncode == 3
    assert unknown.stderr.strip() == "error: no job with id 999999"


async def test_foreground_sync_without_a_provider_leaves_sync_state_alone(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    """`walletsync sync` with no Solana endpoint: exit 2, one line naming the setting, and the wallet's
    sync_state exactly as it was (not marked failed by a sync that could never run)."""
    from walletsync.db.models import sync_state

    assert cli(database_url, tmp_path, "wallets", "add", "-c", "solana", SOLANA, "--no-sync").returncode == 0
    async with db.read() as conn:
        before = (await conn.execute(select(sync_state))).mappings().all()

    result = cli(database_url, tmp_path, "sync", SOLANA)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: no Solana RPC endpoint configured (set SOLANA_RPC_URLS)"
    async with db.read() as conn:
        after = (await conn.execute(select(sync_state))).mappings().all()
    assert after == before
