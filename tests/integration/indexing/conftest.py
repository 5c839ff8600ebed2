"""Fixtures for indexing tests: a simulator over real HTTP and walletsync services pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from walletsync.config import Settings, load_settings
from walletsync.services import Services, open_services
from walletsync.simulator.ledger import Ledger
from walletsync.simulator.server import SimulatorServer

SEED = 11


@pytest.fixture(scope="module")
def ledger() -> Ledger:
    """Three wallets per chain trading with each other, plus a Solana wallet spanning several pages."""
    return Ledger(SEED, solana_wallets=3, cardano_wallets=3, exact_solana_wallets=[2300])


@pytest.fixture(scope="module")
def simulator(ledger: Ledger) -> Iterator[SimulatorServer]:
    with SimulatorServer(ledger) as server:
        yield server


def simulator_settings(
    database_url: str, simulator: SimulatorServer, data_dir: Path, **overrides: object
) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "data_dir": data_dir,
        "redis_url": None,
        "auto_migrate": False,
        "solana_rpc_urls": [simulator.url("solana")],
        "blockfrost_urls": [simulator.url("blockfrost")],
        "twelvedata_urls": [simulator.url("twelvedata")],
        "solana_rate": 10_000.0,
        "solana_burst": 10_000,
        "blockfrost_rate": 10_000.0,
        "blockfrost_burst": 10_000,
        "provider_backoff_initial_s": 0.01,
        "provider_backoff_max_s": 0.05,
    }
    values.update(overrides)
    return load_settings(**values)


@pytest.fixture
def sim_settings(database_url: str, simulator: SimulatorServer, tmp_path: Path) -> Settings:
    return simulator_settings(database_url, simulator, tmp_path / "data")


@pytest.fixture
async def services(db: object, sim_settings: Settings, database_url: str) -> AsyncIterator[Services]:
    """Services on the (emptied) test database and the simulator."""
    async with open_services(sim_settings, database_url) as opened:
        yield opened
