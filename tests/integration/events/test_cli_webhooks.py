"""`walletsync webhooks ...` as a subprocess against a real database and a real receiver."""

from __future__ import annotations

import asyncio
import re
import subprocess
from pathlib import Path

from tests.support import run_walletsync
from walletsync.config import Settings
from walletsync.db.engine import Database
from walletsync.events.relay import Relay

from .conftest import Receiver, add_tx_events, add_wallet


async def cli(
    database_url: str, tmp_path: Path, *args: str, private: bool = True
) -> subprocess.CompletedProcess[str]:
    env = {"DATABASE_URL": database_url, "WALLETSYNC_DATA_DIR": str(tmp_path)}
    if private:
        env["WALLETSYNC_WEBHOOK_ALLOW_PRIVATE"] = "true"
    # In a thread: the receiver serves on this test's event loop meanwhile.
    return await asyncio.to_thread(run_walletsync, *args, cwd=tmp_path, **env)


async def test_add_test_deliveries_redeliver_remove(
    db: Database, database_url: str, tmp_path: Path, receiver: Receiver, event_settings: Settings
) -> None:
    added = await cli(database_url, tmp_path, "webhooks", "add", receiver.url, "--topic", "tx.indexed")
    assert added.returncode == 0, added.stderr
    secret = re.search(r"signing secret: (whsec_\S+)", added.stdout)
    assert secret is not None
    assert "webhook 1 -> " in added.stdout

    tested = await cli(database_url, tmp_path, "webhooks", "test", "1")
    assert tested.returncode == 0, tested.stderr
    assert "HTTP 200" in tested.stdout
    assert receiver.calls[-1].verify(secret.group(1))["type"] == "webhook.test"

    receiver.status = lambda: 410
    refused = await cli(database_url, tmp_path, "webhooks", "test", "1")
    assert refused.returncode == 1
    assert refused.stderr.strip() == f"error: {receiver.url} did not accept the test event: HTTP 410 Gone"

    async with db.write() as conn:
        wallet = await add_wallet(conn, "A" * 44)
        await add_tx_events(conn, wallet, "A" * 44, ["a1"])
    relay = Relay(db, event_settings)
    try:
        await relay.drain()  # 410: the webhook is disabled, the delivery dead
        listed = await cli(database_url, tmp_path, "webhooks", "list")
        assert "410 Gone" in listed.stdout
        dead = await cli(database_url, tmp_path, "webhooks", "deliveries", "1", "--status", "dead")
        assert "dead" in dead.stdout
        receiver.status = lambda: 200
        assert (await cli(database_url, tmp_path, "webhooks", "enable", "1")).returncode == 0
        again = await cli(database_url, tmp_path, "webhooks", "redeliver", "1")
        assert again.stdout.strip() == "1 dead delivery queued again"
        await relay.drain()
    finally:
        await relay.aclose()
    assert receiver.calls[-1].verify(secret.group(1))["data"]["tx_id"] == "a1"

    removed = await cli(database_url, tmp_path, "webhooks", "remove", "1")
    assert removed.stdout.strip() == "webhook 1 removed"
    missing = await cli(database_url, tmp_path, "webhooks", "remove", "1")
    assert missing.returncode == 3
    assert missing.stderr.strip() == "error: no webhook with id 1"


async def test_private_target_refused_in_one_line(db: Database, database_url: str, tmp_path: Path) -> None:
    refused = await cli(database_url, tmp_path, "webhooks", "add", "http://127.0.0.1:9/hook", private=False)
    assert refused.returncode == 2
    assert refused.stderr.strip() == (
        "error: 127.0.0.1 resolves to a private, loopback or link-local address (127.0.0.1); "
        "set WALLETSYNC_WEBHOOK_ALLOW_PRIVATE=true to allow it"
    )


async def test_add_with_batch_sends_batches(
    db: Database, database_url: str, tmp_path: Path, receiver: Receiver, event_settings: Settings
) -> None:
    added = await cli(database_url, tmp_path, "webhooks", "add", receiver.url, "--batch", "2")
    assert added.returncode == 0, added.stderr
    assert "up to 2 events per request" in added.stdout
    secret = re.search(r"signing secret: (whsec_\S+)", added.stdout)
    assert secret is not None
    refused = await cli(database_url, tmp_path, "webhooks", "add", receiver.url, "--batch", "101")
    assert refused.returncode == 2
    assert "--batch" in refused.stderr
    async with db.write() as conn:
        wallet = await add_wallet(conn, "A" * 44)
        await add_tx_events(conn, wallet, "A" * 44, ["a1", "a2", "a3"])
    relay = Relay(db, event_settings)
    try:
        await relay.drain()
    finally:
        await relay.aclose()
    bodies = [call.verify(secret.group(1)) for call in receiver.calls]
    assert [[e["data"]["tx_id"] for e in b["events"]] for b in bodies] == [["a1", "a2"], ["a3"]]
