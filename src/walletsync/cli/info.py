"""Commands that inspect rather than change: `version`, `doctor`, `inspect-tx`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from walletsync import __version__
from walletsync.chain import Chain
from walletsync.cli.common import console, load


def version() -> None:
    """Print the walletsync version."""
    console.print(f"walletsync {__version__}")


def doctor() -> None:
    """Check the database, Redis and provider endpoints, and print a table of what works."""
    from walletsync.doctor import run_checks

    settings = load()
    results = run_checks(settings)
    table = Table(title="walletsync doctor")
    table.add_column("check")
    table.add_column("status")
    table.add_column("detail", overflow="fold")
    for result in results:
        if result.skipped:
            mark = "[dim]skipped[/]"
        elif result.ok:
            mark = "[yellow]warn[/]" if result.warning else "[green]ok[/]"
        else:
            mark = "[red]FAIL[/]"
        table.add_row(result.name, mark, result.detail)
    console.print(table)
    if any(not r.ok and not r.skipped for r in results):
        raise typer.Exit(1)


def inspect_tx(
    chain: Annotated[Chain, typer.Option(help="Which provider's response the file holds.")],
    file: Annotated[Path, typer.Option(help="Raw response: Solana getTransaction, Cardano {tx, utxos}.")],
) -> None:
    """Normalize one raw provider response and print the transaction as JSON."""
    from walletsync.providers.inspect import inspect_file

    sys.stdout.write(json.dumps(inspect_file(chain, file), indent=2) + "\n")
