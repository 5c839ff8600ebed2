"""Running the simulator: `SimulatorServer` for tests, demo and benchmarks, `run_simulator` for the CLI.

`SimulatorServer` binds 127.0.0.1 on a free port and serves uvicorn either in a background thread
(default: the ledger and the fault injector are shared objects, stats are read directly) or, with
`process=True`, in a child `python -m walletsync.simulator` process so a benchmark's client and the
simulator do not share one GIL. Uvicorn runs quiet: no access log, and the connection drops the
fault layer causes on purpose are not logged as errors.
"""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import threading
import time
from types import TracebackType
from typing import Any, Self

import httpx
import uvicorn

from walletsync.simulator.app import DropConnection, create_app
from walletsync.simulator.faults import Clock, FaultConfig, FaultInjector
from walletsync.simulator.forks import reorg_cardano
from walletsync.simulator.ledger import Ledger

PROVIDERS = ("solana", "blockfrost", "twelvedata")
_READY = "SIMULATOR READY"


class _QuietDrops(logging.Filter):
    """Hide uvicorn's error record for connections the fault layer drops on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, DropConnection)


def quiet_uvicorn_logs() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _QuietDrops) for f in logger.filters):
        logger.addFilter(_QuietDrops())


def _uvicorn_config(app: Any, *, log_level: str = "warning") -> uvicorn.Config:
    return uvicorn.Config(
        app,
        log_config=None,
        log_level=log_level,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=1,
        timeout_keep_alive=30,
    )


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


class SimulatorServer:
    """A running simulator on 127.0.0.1 (sync and async context manager).

    Thread mode (default) serves `ledger` (or a new `Ledger(**ledger_kwargs)`). Process mode
    (`process=True`) builds the ledger in the child from `ledger_kwargs` (a `Ledger` object cannot be
    sent), and `stats`/`set_faults`/`reset` go over the admin HTTP routes.
    """

    def __init__(
        self,
        ledger: Ledger | None = None,
        faults: FaultConfig | None = None,
        *,
        ledger_kwargs: dict[str, Any] | None = None,
        process: bool = False,
        clock: Clock | None = None,
        blockfrost_project_id: str | None = None,
        twelvedata_api_key: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if process and ledger is not None:
            raise ValueError("process mode builds its ledger in the child: pass ledger_kwargs")
        self.process = process
        self.host = host
        self.port = port
        self.ledger_kwargs = dict(ledger_kwargs or {})
        self.faults = faults or FaultConfig()
        self.blockfrost_project_id = blockfrost_project_id
        self.twelvedata_api_key = twelvedata_api_key
        self.ledger: Ledger | None = ledger
        self.injector: FaultInjector | None = None
        self._clock = clock
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._child: subprocess.Popen[str] | None = None
        self._admin_client: httpx.Client | None = None

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> Self:
        if self.process:
            self._start_process()
        else:
            self._start_thread()
        return self

    def _start_thread(self) -> None:
        if self.ledger is None:
            self.ledger = Ledger(**self.ledger_kwargs)
        self.injector = (
            FaultInjector(self.faults, clock=self._clock) if self._clock else FaultInjector(self.faults)
        )
        app = create_app(
            self.ledger,
            self.injector,
            blockfrost_project_id=self.blockfrost_project_id,
            twelvedata_api_key=self.twelvedata_api_key,
        )
        quiet_uvicorn_logs()
        sock = _bind(self.host, self.port)
        self.port = sock.getsockname()[1]
        server = uvicorn.Server(_uvicorn_config(app))
        self._server = server
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="walletsync-simulator"
        )
        self._thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("simulator server did not start")
            time.sleep(0.01)

    def _start_process(self) -> None:
        args = [
            sys.executable,
            "-m",
            "walletsync.simulator",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--ledger-json",
            json.dumps(self.ledger_kwargs),
            "--faults-json",
            self.faults.model_dump_json(),
        ]
        if self.blockfrost_project_id:
            args += ["--blockfrost-project-id", self.blockfrost_project_id]
        if self.twelvedata_api_key:
            args += ["--twelvedata-api-key", self.twelvedata_api_key]
        child = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)  # noqa: S603 - our own module
        self._child = child
        assert child.stdout is not None
        line = child.stdout.readline()
        if not line.startswith(_READY):
            child.kill()
            child.wait()
            raise RuntimeError(f"simulator process did not start: {line!r}")
        self.port = int(line.split()[-1])

    def stop(self) -> None:
        if self._admin_client is not None:
            self._admin_client.close()
            self._admin_client = None
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
            self._server = None
            self._thread = None
        if self._child is not None:
            self._child.terminate()
            try:
                self._child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._child.kill()
                self._child.wait()
            if self._child.stdout is not None:
                self._child.stdout.close()
            self._child = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        import asyncio

        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        import asyncio

        await asyncio.to_thread(self.stop)

    # --- addresses --------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, provider: str, endpoint: int = 0) -> str:
        """Base URL of one endpoint index of a provider (index 0 is also `/{provider}`)."""
        if provider not in PROVIDERS:
            raise ValueError(f"unknown provider {provider!r}")
        return f"{self.base_url}/e{endpoint}/{provider}"

    def urls(self, provider: str, n: int) -> list[str]:
        """`n` distinct endpoint URLs of a provider: indices 0..n-1."""
        return [self.url(provider, i) for i in range(n)]

    # --- control ----------------------------------------------------------------------------

    def _admin(self, method: str, route: str, body: Any = None) -> Any:
        # One client per server, not one per call: each new httpx client loads the system's
        # certificate store (22 ms) although the child is plain HTTP on 127.0.0.1.
        if self._admin_client is None:
            self._admin_client = httpx.Client(timeout=30)
        response = self._admin_client.request(method, f"{self.base_url}/_admin/{route}", json=body)
        response.raise_for_status()
        return response.json()

    def stats(self) -> dict[str, Any]:
        """Request, violation and fault counters (see `FaultInjector.stats`)."""
        if self.injector is not None:
            return self.injector.stats()
        result: dict[str, Any] = self._admin("GET", "stats")
        return result

    def set_faults(self, config: FaultConfig | dict[str, Any]) -> None:
        """Replace the fault configuration of the running server."""
        parsed = config if isinstance(config, FaultConfig) else FaultConfig.model_validate(config)
        self.faults = parsed
        if self.injector is not None:
            self.injector.set_config(parsed)
        else:
            self._admin("POST", "faults", parsed.model_dump(mode="json"))

    def reorg(self, depth: int, *, drop: float = 0.5, seed: int = 0) -> dict[str, Any]:
        """Replace the last `depth` Cardano blocks (see `simulator.forks`); dropped and re-included."""
        if self.ledger is not None:
            return reorg_cardano(self.ledger.cardano, depth, drop=drop, seed=seed).as_dict()
        result: dict[str, Any] = self._admin("POST", "reorg", {"depth": depth, "drop": drop, "seed": seed})
        return result

    def reset(self) -> None:
        """Zero the counters and refill the rate-limit buckets."""
        if self.injector is not None:
            self.injector.reset()
        else:
            self._admin("POST", "reset")

    def wallets(self) -> dict[str, Any]:
        """The ledger summary: wallet addresses per chain with transaction counts."""
        if self.ledger is not None:
            return self.ledger.summary()
        result: dict[str, Any] = self._admin("GET", "ledger")
        return result


def run_simulator(
    port: int,
    seed: int = 42,
    *,
    faults: FaultConfig | None = None,
    ledger_kwargs: dict[str, Any] | None = None,
    host: str = "127.0.0.1",
    blockfrost_project_id: str | None = None,
    twelvedata_api_key: str | None = None,
    announce: Any = None,
) -> None:
    """Serve the simulator in the foreground until interrupted (the `walletsync simulator` command).

    `announce(ledger, port)` is called once the socket is bound, before serving (the CLI prints the
    endpoint URLs and demo wallets there).
    """
    ledger = Ledger(**{"seed": seed, **(ledger_kwargs or {})})
    app = create_app(
        ledger, faults, blockfrost_project_id=blockfrost_project_id, twelvedata_api_key=twelvedata_api_key
    )
    quiet_uvicorn_logs()
    sock = _bind(host, port)
    if announce is not None:
        announce(ledger, sock.getsockname()[1])
    uvicorn.Server(_uvicorn_config(app)).run(sockets=[sock])


def serve_child(
    host: str,
    port: int,
    ledger_kwargs: dict[str, Any],
    faults: FaultConfig,
    blockfrost_project_id: str | None,
    twelvedata_api_key: str | None,
) -> None:
    """Process-mode entry: build, bind, tell the parent the port on stdout, serve."""

    def ready(_: Ledger, bound: int) -> None:
        print(f"{_READY} {bound}", flush=True)

    run_simulator(
        port,
        faults=faults,
        ledger_kwargs=ledger_kwargs,
        host=host,
        blockfrost_project_id=blockfrost_project_id,
        twelvedata_api_key=twelvedata_api_key,
        announce=ready,
    )
