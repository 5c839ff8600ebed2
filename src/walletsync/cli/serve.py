"""Long-running processes: `serve`, `api`, `worker`, `demo`, `simulator`."""

from __future__ import annotations

from typing import Annotated

import typer

from walletsync.cli.common import console, database_url, err_console, load, run_async


def worker_command(
    concurrency: Annotated[
        int | None,
        typer.Option(min=1, max=256, help="Jobs run at once (default WALLETSYNC_WORKER_CONCURRENCY)."),
    ] = None,
    queue: Annotated[
        list[str] | None, typer.Option(help="Only these queues (sync, market, maintenance).")
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(min=1, max=65535, help="Serve Prometheus /metrics (provider calls) on this port."),
    ] = None,
    metrics_host: Annotated[str, typer.Option(help="Interface for --metrics-port.")] = "127.0.0.1",
) -> None:
    """Run a job worker (several may run at once, in any number of processes)."""
    from walletsync.jobs.worker import run_worker
    from walletsync.market.first_run import queue_first_prices_at_start
    from walletsync.preflight import check_port_free
    from walletsync.runtime import tune_gc_for_throughput
    from walletsync.services import open_services

    if metrics_port is not None:
        check_port_free(metrics_host, metrics_port, "--metrics-port")
    settings = load(interactive=False)
    tune_gc_for_throughput()
    url = database_url(settings, redis=True)
    if metrics_port is not None:
        # Provider metrics (requests, retries, breaker states) live in the process making the calls;
        # the API's /metrics cannot see a worker's. prometheus_client serves them from a daemon thread.
        from prometheus_client import start_http_server

        start_http_server(metrics_port, addr=metrics_host)

    async def body() -> None:
        async with open_services(settings, url, application_name="walletsync-worker") as services:
            await queue_first_prices_at_start(services)
            await run_worker(services, concurrency=concurrency or settings.worker_concurrency, queues=queue)

    run_async(body())


def serve_command(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    concurrency: Annotated[int | None, typer.Option(min=1, max=256, help="Worker jobs at once.")] = None,
) -> None:
    """Run the API, a job worker and the scheduler in one process (for small installs)."""
    from walletsync.commands import serve_all
    from walletsync.preflight import check_port_free
    from walletsync.runtime import tune_gc_for_throughput

    check_port_free(host, port)  # before the database, migrations and the worker
    settings = load(interactive=False)
    tune_gc_for_throughput()
    url = database_url(settings, redis=True)
    run_async(
        serve_all(
            settings,
            url,
            host=host,
            port=port,
            concurrency=concurrency or settings.worker_concurrency,
            console=console,
        )
    )


def demo_command(
    exit_after_sync: Annotated[
        bool, typer.Option("--exit-after-sync", help="Exit 0 after printing balances instead of serving.")
    ] = False,
    seed: Annotated[int, typer.Option(help="Simulator seed (same seed, same demo ledger).")] = 7,
    host: Annotated[str, typer.Option(help="API interface when serving.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="API port when serving.")] = 8000,
) -> None:
    """Start everything locally (embedded database, simulator), sync demo wallets, print balances, serve."""
    from walletsync.demo import run_demo
    from walletsync.preflight import check_port_free, check_redis
    from walletsync.runtime import tune_gc_for_throughput

    if not exit_after_sync:
        check_port_free(host, port)  # before the simulator, the database and the syncs
    settings = load(service=not exit_after_sync)
    check_redis(settings)
    tune_gc_for_throughput()
    code = run_demo(
        settings, console=console, exit_after_sync=exit_after_sync, seed=seed, host=host, port=port
    )
    raise typer.Exit(code)


def api_command(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
) -> None:
    """Run the REST API alone (run workers separately with `walletsync worker`)."""
    from walletsync.api.server import run_api
    from walletsync.preflight import check_port_free

    check_port_free(host, port)
    settings = load(interactive=False)
    run_api(settings, database_url(settings, redis=True), host=host, port=port)


def simulator_command(
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0: a free one).")] = 8899,
    seed: Annotated[int, typer.Option(help="Ledger seed (same seed, same ledger).")] = 42,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    latency_ms: Annotated[str | None, typer.Option(help="Added latency: N or MIN:MAX (ms).")] = None,
    fail_rate: Annotated[float, typer.Option(min=0, max=1, help="Share of 5xx responses.")] = 0.0,
    timeout_rate: Annotated[float, typer.Option(min=0, max=1, help="Share of responses that hang.")] = 0.0,
    malformed_rate: Annotated[float, typer.Option(min=0, max=1, help="Share of broken 200 bodies.")] = 0.0,
    rate_limit: Annotated[
        list[str] | None, typer.Option(help="PROVIDER=RATE[:BURST] token bucket; repeatable.")
    ] = None,
    solana_wallets: Annotated[int, typer.Option(min=0, max=1000)] = 3,
    cardano_wallets: Annotated[int, typer.Option(min=0, max=1000)] = 3,
) -> None:
    """Serve the bundled Solana RPC / Blockfrost / Twelve Data simulator with optional faults."""
    from walletsync.simulator import command

    try:
        faults = command.fault_config(
            latency_ms=latency_ms,
            fail_rate=fail_rate,
            timeout_rate=timeout_rate,
            malformed_rate=malformed_rate,
            rate_limits=rate_limit or [],
            seed=seed,
        )
    except command.OptionError as exc:
        err_console.print(f"error: {exc}")
        raise typer.Exit(2) from None
    command.serve(
        console,
        host=host,
        port=port,
        seed=seed,
        solana_wallets=solana_wallets,
        cardano_wallets=cardano_wallets,
        faults=faults,
    )
