"""The benchmark's webhook receiver, in its own process: verifies every signature, records arrivals.

POST /hook verifies with `standardwebhooks` (the secret from `WEBHOOK_SECRET`) and records the
event id, its `timestamp` and the arrival time, for each event of a batch too (`"type": "batch"`,
docs/events.md); GET /results returns them as JSON `[[id, event_ts_epoch, arrived_epoch], ...]`
plus the count of rejected requests and of requests.

Usage: `python bench/_webhook_receiver.py --port 8765` (WEBHOOK_SECRET in the environment).
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import datetime

import orjson
import uvicorn
from standardwebhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

verifier = Webhook(os.environ["WEBHOOK_SECRET"])
arrivals: list[tuple[str, float, float]] = []
rejected = 0
requests = 0


async def hook(request: Request) -> Response:
    global rejected, requests
    requests += 1
    body = await request.body()
    arrived = time.time()
    try:
        event = verifier.verify(body, dict(request.headers))
    except WebhookVerificationError:
        rejected += 1
        return Response(status_code=400)
    for one in event["events"] if event.get("type") == "batch" else [event]:
        stamp = datetime.fromisoformat(one["timestamp"].replace("Z", "+00:00")).timestamp()
        arrivals.append((one["id"], stamp, arrived))
    return Response(status_code=204)


async def results(_: Request) -> Response:
    return Response(
        orjson.dumps({"arrivals": arrivals, "rejected": rejected, "requests": requests}),
        media_type="application/json",
    )


app = Starlette(routes=[Route("/hook", hook, methods=["POST"]), Route("/results", results)])

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)
