"""The operator CLI prints stored labels, group names and token symbols literally: no Rich markup, no
terminal escape sequences (a label `[red]x[/red]` or `\\x1b[2J` is shown as written)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import insert

from tests.support import run_walletsync
from walletsync.db.engine import Database
from walletsync.db.models import assets, balance_deltas, transactions, wallet_transactions
from walletsync.wallets.repository import add_wallet

SOLANA = "4Nd1mBQtrMJVYVfKf2PJy9NZUZdTAsp7D4xWLs4gDB4T"


async def test_labels_groups_and_symbols_print_literally(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    async with db.write() as conn:
        wallet = await add_wallet(
            conn, chain="solana", address=SOLANA, label="[red]x[/red]", group="\x1b[2Jg"
        )
        asset_id = (
            await conn.execute(
                insert(assets)
                .values(chain="solana", asset_key="Mint\x1b]0;pwned\x07", symbol="[bold]EVIL", decimals=0)
                .returning(assets.c.id)
            )
        ).scalar_one()
        await conn.execute(
            insert(transactions).values(chain="solana", tx_id="t1", height=1, fee=5000, success=True)
        )
        await conn.execute(
            insert(wallet_transactions).values(wallet_id=wallet.id, chain="solana", tx_id="t1", height=1)
        )
        await conn.execute(
            insert(balance_deltas).values(
                wallet_id=wallet.id, chain="solana", tx_id="t1", asset_id=asset_id, amount=5, height=1
            )
        )
    env = {"DATABASE_URL": database_url, "WALLETSYNC_DATA_DIR": str(tmp_path)}
    listed = run_walletsync("wallets", "list", cwd=tmp_path, **env)
    assert listed.returncode == 0, listed.stderr
    assert "[red]x[/red]" in listed.stdout
    assert "\\x1b[2Jg" in listed.stdout
    balances = run_walletsync("balances", str(wallet.id), cwd=tmp_path, **env)
    assert balances.returncode == 0, balances.stderr
    assert "[bold]EVIL" in balances.stdout
    assert "\\x1b]0;pwned\\x07" in balances.stdout
    for output in (listed.stdout, balances.stdout):
        assert "\x1b" not in output
        assert "\x07" not in output
