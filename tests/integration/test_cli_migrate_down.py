"""`migrate down` says which tables it drops, before it asks and before anything changes."""

from __future__ import annotations

from pathlib import Path

from tests.integration.test_cli_migrate import _run


def test_migrate_down_lists_what_it_drops_first(empty_database_url: str, tmp_path: Path) -> None:
    assert _run(empty_database_url, tmp_path, "migrate", "up").returncode == 0
    refused = _run(empty_database_url, tmp_path, "migrate", "down", "base")  # no terminal, no --yes
    assert refused.returncode == 2
    text = " ".join(refused.stdout.split())  # the terminal may wrap the long line
    line = text[text.index("migrate down base drops ") :]
    for named in (
        "procrastinate_jobs (the job queue)",
        "api_keys (API keys)",
        "outbox (undelivered events)",
        "wallets (tracked wallets)",
        "job_failures (job errors)",
    ):
        assert named in line
    # Listing ran the downgrade in a rolled-back transaction: nothing changed.
    assert "up to date" in _run(empty_database_url, tmp_path, "migrate", "status").stdout

    one_step = _run(empty_database_url, tmp_path, "migrate", "down", "0003")
    assert one_step.returncode == 0, one_step.stderr
    listed = " ".join(one_step.stdout.split())
    dropped = listed[listed.index("drops") : listed.index("at revision")]
    assert "procrastinate_jobs (the job queue)" in dropped
    assert "api_keys" not in dropped  # 0003 created it, and 0003 stays
