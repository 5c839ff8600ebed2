"""What `walletsync demo` prints to try events: a ready `curl -N` line and a webhook to register."""

from __future__ import annotations

from walletsync.api.keys import create_key
from walletsync.db.engine import Database


async def stream_hints(db: Database, *, host: str, port: int) -> list[str]:
    """Create a read key for the demo's stream and return the lines to print."""
    async with db.write() as conn:
        key = (await create_key(conn, name="demo-events", scope="read")).key
    base = f"http://{host}:{port}"
    return [
        "[bold]live events[/] (another terminal; after=0 replays the demo's events, then streams new ones):",
        f'  curl -N -H "Authorization: Bearer {key}" "{base}/v1/events/stream?after=0"',
        "[bold]webhooks[/]: point one at your receiver (private addresses are refused unless allowed):",
        "  WALLETSYNC_WEBHOOK_ALLOW_PRIVATE=true walletsync webhooks add http://127.0.0.1:PORT/hook --replay",
        "  (--replay delivers the demo's events too; `walletsync webhooks test ID` sends a signed test; docs/events.md)",
    ]
