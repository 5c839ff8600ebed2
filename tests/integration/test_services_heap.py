"""`open_services` settles the process's start-up heap once (`services.settle_heap`)."""

from __future__ import annotations

import gc
from pathlib import Path

from tests.integration.indexing.conftest import ledger, simulator, simulator_settings  # noqa: F401
from walletsync.services import open_services
from walletsync.simulator.server import SimulatorServer


async def test_start_up_objects_are_frozen_once_a_process(
    database_url: str,
    simulator: SimulatorServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Frozen (out of every full collection's walk) once the services are open; a second `open_services`
    in the same process freezes nothing more, so what is built later stays collectable."""
    settings = simulator_settings(database_url, simulator, tmp_path / "data")
    async with open_services(settings, database_url):
        frozen = gc.get_freeze_count()
        assert frozen > 10_000  # modules, settings, engines, clients: far more than this
    later = [[i] for i in range(1000)]  # objects made after the freeze
    async with open_services(settings, database_url):
        assert gc.get_freeze_count() <= frozen  # nothing more frozen (frozen objects may still die)
    assert later
