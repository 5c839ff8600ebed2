"""`walletsync worker --metrics-port`: the worker's own provider metrics, for Prometheus to scrape."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.support import clean_env, start_walletsync

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_worker_serves_provider_metrics(tmp_path: Path, database_url: str) -> None:
    """A running worker answers /metrics with the provider metric families the dashboard graphs."""
    port = _free_port()
    env = clean_env(DATABASE_URL=database_url, WALLETSYNC_DATA_DIR=str(tmp_path / "data"))
    worker = start_walletsync(
        "worker",
        "--metrics-port",
        str(port),
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        body = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and worker.poll() is None:
            try:
                body = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
                break
            except httpx.TransportError:
                time.sleep(0.2)  # the process is still starting: poll until it listens
        assert worker.poll() is None, worker.stderr.read() if worker.stderr else ""
        assert "# TYPE walletsync_provider_breaker_state gauge" in body
        assert "# TYPE walletsync_provider_requests_total counter" in body
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
