"""The `walletsync` command (typer + rich): the app, and where each command module is wired in.

One module per command group (`db`, `wallets`, `jobs`, `serve`, `apikeys`, `prices`, `info`); each
holds thin command functions, with logic in the packages. A new command goes in its group's module
(or a new one) and gets one line here.

Errors walletsync raises on purpose (`WalletsyncError`) print as one line on stderr and exit with
the error's `exit_code`; nothing prints a traceback unless `WALLETSYNC_LOG_LEVEL=DEBUG`.
"""

from __future__ import annotations

import sys

import typer

from walletsync.cli import apikeys, db, info, jobs, prices, serve, wallets, webhooks
from walletsync.cli.common import err_console, is_service
from walletsync.cli.usage import ClickException, patch_typer_coercion, patch_typer_help, report_click_error
from walletsync.errors import WalletsyncError
from walletsync.signals import Terminated, stop_on_termination_signals

patch_typer_help()
patch_typer_coercion()

app = typer.Typer(
    rich_markup_mode=None,
    name="walletsync",
    help="Self-hosted wallet indexer and portfolio API for Solana and Cardano.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Wider than click's 80 where the terminal allows: command summaries are cut to one line.
    context_settings={"max_content_width": 120},
)

# Commands, in the order `walletsync --help` lists them.
app.command()(info.version)
app.command()(info.doctor)
app.command("backup")(db.backup_command)
app.command("restore")(db.restore_command)
app.command("inspect-tx")(info.inspect_tx)
app.command("sync")(wallets.sync_command)
app.command("balances")(wallets.balances_command)
app.command("worker")(serve.worker_command)
app.command("serve")(serve.serve_command)
app.command("demo")(serve.demo_command)
app.command("api")(serve.api_command)
app.command("simulator")(serve.simulator_command)

# Command groups.
app.add_typer(db.migrate_app, name="migrate")
app.add_typer(wallets.wallets_app, name="wallets")
app.add_typer(jobs.jobs_app, name="jobs")
app.add_typer(apikeys.apikeys_app, name="apikeys")
app.add_typer(prices.prices_app, name="prices")
app.add_typer(webhooks.webhooks_app, name="webhooks")


def main() -> None:
    """Console-script entry point."""
    stop_on_termination_signals()
    try:
        # standalone_mode=False: click errors come back to us to print on one line (typer would box them)
        code = app(standalone_mode=False, prog_name="walletsync")
        sys.exit(code if isinstance(code, int) else 0)
    except ClickException as exc:
        sys.exit(report_click_error(exc))
    except typer.Abort:
        err_console.print("aborted: nothing changed")
        sys.exit(1)
    except WalletsyncError as exc:
        err_console.print(f"error: {exc.detail}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
    except Terminated as exc:
        # A service's normal way to end (systemd, docker stop): it stopped cleanly, exit 0. A one-shot
        # command stopped half-way exits 128+N like a shell reports a signal, so scripts see it.
        err_console.print(f"stopped by {exc}")
        sys.exit(0 if is_service() else 128 + exc.signum)
    except Exception as exc:
        # A server lost after the start-up checks passed: still one line, not a driver traceback.
        from walletsync.preflight import describe_connection_error

        message = describe_connection_error(exc)
        if message is None:
            raise
        err_console.print(f"error: {message}", highlight=False, soft_wrap=True)
        sys.exit(1)


__all__ = ["app", "main"]
