"""The benchmark's SSE client, in its own process (as a real client is): records each event's arrival.

Connects to `--url` with `--key`, prints `ready` once the stream's first comment arrives, and appends
`[id, event_ts_epoch, arrived_epoch]` lines (JSON) to `--out` every 0.2 s, so the benchmark can follow
along. A process of its own keeps the syncing process's CPU work out of the arrival times.

Usage: `python bench/_sse_client.py --url http://127.0.0.1:PORT/v1/events/stream --key KEY --out FILE`
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import time
from datetime import datetime
from pathlib import Path

import httpx

FLUSH_S = 0.2


async def main(url: str, key: str, out: Path) -> None:
    arrivals: list[str] = []
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)

    async def read() -> None:
        headers = {"Authorization": f"Bearer {key}"}
        async with (
            httpx.AsyncClient(timeout=httpx.Timeout(30, read=None)) as client,
            client.stream("GET", url, headers=headers) as response,
        ):
            response.raise_for_status()
            async for line in response.aiter_lines():
                if line.startswith(":"):
                    print("ready", flush=True)
                elif line.startswith("data:"):
                    arrived = time.time()
                    event = json.loads(line[5:])
                    stamp = datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00")).timestamp()
                    arrivals.append(json.dumps([event["id"], stamp, arrived]))

    def flush() -> None:
        if arrivals:
            chunk = "\n".join(arrivals) + "\n"
            arrivals.clear()
            with out.open("a") as f:
                f.write(chunk)

    reader = asyncio.create_task(read())
    while not stop.is_set() and not reader.done():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), FLUSH_S)
        flush()
    reader.cancel()
    await asyncio.gather(reader, return_exceptions=True)
    flush()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    asyncio.run(main(args.url, args.key, args.out))
