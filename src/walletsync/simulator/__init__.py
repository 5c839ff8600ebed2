"""A deterministic synthetic ledger served as Solana JSON-RPC, Blockfrost and Twelve Data, with faults.

Public surface: `Ledger` (the synthetic world and its ground truth), `FaultConfig` and its parts
(what goes wrong), `FaultInjector`, `create_app` (the ASGI app), `SimulatorServer` (run it on a free
port in a thread or a child process) and `run_simulator` (the CLI's foreground server).
"""

from walletsync.simulator.app import create_app
from walletsync.simulator.faults import FaultConfig, FaultInjector, FaultRule, Outage, RateLimit, TokenBucket
from walletsync.simulator.ledger import Ledger
from walletsync.simulator.server import SimulatorServer, run_simulator

__all__ = [
    "FaultConfig",
    "FaultInjector",
    "FaultRule",
    "Ledger",
    "Outage",
    "RateLimit",
    "SimulatorServer",
    "TokenBucket",
    "create_app",
    "run_simulator",
]
