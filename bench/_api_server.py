"""`walletsync api` plus one route for the benchmark's floor: `GET /v1/bench/floor`.

The floor is what the web stack costs with nothing behind it: the same app (middleware, request
log, auth by API key, the per-key rate limit in Redis) and the same uvicorn settings as
`walletsync.api.server.run_api`, on a route that returns a constant. `bench/api_load.py` starts this
instead of `walletsync api` so both are measured in one server process.

Usage: `python bench/_api_server.py --host 127.0.0.1 --port 8000` (settings from the environment).
"""

from __future__ import annotations

import argparse

import uvicorn
from starlette.responses import Response

from walletsync.api.app import create_app
from walletsync.api.deps import ReadAccess
from walletsync.cli.common import database_url, load

FLOOR_PATH = "/v1/bench/floor"
FLOOR_BODY = b'{"ok":true}'


async def floor(_: ReadAccess) -> Response:
    return Response(FLOOR_BODY, media_type="application/json")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    settings = load(interactive=False)
    url = database_url(settings, redis=True)
    app = create_app(settings.model_copy(update={"database_url": url}))
    app.add_api_route(FLOOR_PATH, floor, methods=["GET"])
    uvicorn.run(  # as run_api does
        app,
        host=args.host,
        port=args.port,
        log_config=None,
        access_log=False,
        server_header=False,
        proxy_headers=False,
        lifespan="on",
    )


if __name__ == "__main__":
    main()
