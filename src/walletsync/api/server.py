"""Running the API alone under uvicorn (`walletsync api`); `walletsync serve` runs it beside a worker."""

from __future__ import annotations

import uvicorn

from walletsync.api.app import create_app
from walletsync.config import Settings


def run_api(settings: Settings, database_url: str, *, host: str, port: int) -> None:
    """Serve until SIGINT/SIGTERM. `database_url` is the resolved (and migrated) database."""
    app = create_app(settings.model_copy(update={"database_url": database_url}))
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_config=None,  # structlog (configured by the CLI) renders every log line
        access_log=False,  # the API middleware logs each request with its id and route template
        server_header=False,
        proxy_headers=False,
        lifespan="on",
    )
