"""Browser tests: a real Chromium (Debian's `/usr/bin/chromium`, driven by Playwright) against
`walletsync demo` serving a seeded database, started once for the module's tests.

Playwright's own browser download is never used: the `browser` fixture launches the system Chromium. Without one the tests skip with the reason, except under `CI=true`, where they fail
(`.ci/run` installs the `chromium` package). On a failure each test saves a screenshot and the page's
console log under `test-results/browser/`.
"""

from __future__ import annotations

import asyncio
import os
import queue
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from sqlalchemy import func, text, update
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import TestEnv, create_database, drop_database
from tests.support import clean_env, start_walletsync
from walletsync.api.keys import create_key
from walletsync.config import Chain
from walletsync.db.engine import async_url
from walletsync.db.models import sync_state
from walletsync.wallets.repository import add_wallet

CHROMIUM = Path(os.environ.get("WALLETSYNC_TEST_CHROMIUM", "/usr/bin/chromium"))
DEMO_SEED = 7
DEMO_WALLETS_PER_CHAIN = 3  # what `walletsync demo` tracks (demo.WALLETS_PER_CHAIN)
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-results" / "browser"
T = TypeVar("T")
_SERVING = re.compile(r"serving.*http://")
_LINK = re.compile(r"(http://\S+/web/signin/link\?token=\S+)")


@pytest.fixture(scope="session")
def chromium() -> Path:
    if CHROMIUM.exists():
        return CHROMIUM
    reason = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    if TestEnv().ci:
        pytest.fail(f"{reason}; CI=true requires it")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser(chromium: Path) -> Iterator[Browser]:
    """The system Chromium, for one test module. Playwright's sync API runs an event loop on this
    thread while it is started, so it is stopped when the module ends: a session-long one (as
    pytest-playwright's fixtures keep) breaks every asyncio test that runs after it."""
    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=str(chromium))
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context (no cookies) and page per test, desktop-sized."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Demo:
    base_url: str
    database_url: str
    output: list[str] = field(default_factory=list)
    signin_link: str | None = None
    keys: dict[str, str] = field(default_factory=dict)

    def sql(self, statement: str, **params: Any) -> list[Any]:
        """Rows of one SQL statement against the demo's database (a test's independent oracle)."""

        async def run() -> list[Any]:
            engine = create_async_engine(async_url(self.database_url))
            try:
                async with engine.begin() as conn:
                    result = await conn.execute(text(statement), params)
                    return list(result) if result.returns_rows else []
            finally:
                await engine.dispose()

        return run_async(run())

    async def add_wallet(self, chain: Chain, address: str, label: str) -> int:
        """Track a wallet without queueing its sync (like `walletsync wallets add --no-sync`), and not
        due for a day either: a new wallet is due at once, so the demo's minutely sweep would sync it
        in the middle of a test that expects it untouched until the test asks (the live-update test
        once saw that sync's events refresh the status it asserts is left alone)."""
        engine = create_async_engine(async_url(self.database_url))
        try:
            async with engine.begin() as conn:
                wallet_id = (await add_wallet(conn, chain=chain, address=address, label=label)).id
                await conn.execute(
                    update(sync_state)
                    .where(sync_state.c.wallet_id == wallet_id)
                    .values(next_sync_at=func.now() + timedelta(days=1))
                )
                return wallet_id
        finally:
            await engine.dispose()


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion on its own thread: Playwright's sync API already runs an event
    loop on the test's thread, where `asyncio.run` is refused."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _drain(proc: subprocess.Popen[str], demo: Demo, lines: queue.Queue[str | None]) -> None:
    """Read the demo's output for as long as it runs (a full pipe would block it), line by line."""
    assert proc.stdout is not None
    for line in proc.stdout:
        demo.output.append(line.rstrip("\n"))
        lines.put(line)
    lines.put(None)


def _read_until(lines: queue.Queue[str | None], demo: Demo, pattern: re.Pattern[str], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            break
        if line is None:
            break
        if match := pattern.search(line):
            return match.group(0)
    raise AssertionError("walletsync demo did not get there:\n" + "\n".join(demo.output[-40:]))


async def _make_keys(url: str) -> dict[str, str]:
    engine = create_async_engine(async_url(url))
    try:
        async with engine.begin() as conn:
            return {
                scope: (await create_key(conn, name=f"browser {scope}", scope=scope)).key
                for scope in ("read", "write", "admin")
            }
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def demo(pg_admin_url: str, chromium: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """`walletsync demo` on its own database and a free port, seeded and serving (API, dashboard,
    worker), with a read, a write and an admin key."""
    url = create_database(pg_admin_url, prefix="walletsync_browser")
    port = _free_port()
    workdir = tmp_path_factory.mktemp("demo")
    demo = Demo(base_url=f"http://127.0.0.1:{port}", database_url=url)
    proc = start_walletsync(
        "demo",
        "--seed",
        str(DEMO_SEED),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        cwd=workdir,
        env=clean_env(
            COLUMNS="250",
            DATABASE_URL=url,
            WALLETSYNC_DATA_DIR=str(workdir / "data"),
            LOG_LEVEL="WARNING",
            PYTHONUNBUFFERED="1",
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=_drain, args=(proc, demo, lines), daemon=True).start()
        _read_until(lines, demo, _SERVING, timeout=240)
        demo.signin_link = _read_until(lines, demo, _LINK, timeout=60)
        _wait_for_http(demo.base_url)
        demo.keys = run_async(_make_keys(url))
        yield demo
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        drop_database(pg_admin_url, url)


def _wait_for_http(base_url: str, timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{base_url} did not answer")


# --- watching pages ---------------------------------------------------------------------------------
@dataclass
class PageWatch:
    """Everything a page reported that would mean a broken dashboard."""

    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)

    def assert_clean(self, *, allow: tuple[str, ...] = ()) -> None:
        """No console error, page error or failed request, except those containing an `allow` text."""

        def unexpected(lines: list[str]) -> list[str]:
            return [line for line in lines if not any(a in line for a in allow)]

        assert not unexpected(self.errors), self.errors
        assert not unexpected(self.failed_requests), self.failed_requests


@pytest.fixture
def watch(page: Page, request: pytest.FixtureRequest) -> Iterator[PageWatch]:
    """Console messages, page errors and failed requests of the test's page; on a failed test, a
    screenshot and the console log in `test-results/browser/<test>/`."""
    seen = PageWatch()

    def on_console(msg: Any) -> None:
        line = f"{msg.type}: {msg.text}"
        seen.console.append(line)
        if msg.type == "error":
            seen.errors.append(line)

    def on_response(response: Any) -> None:
        if response.status >= 400:
            seen.failed_requests.append(f"{response.status} {response.request.method} {response.url}")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: seen.errors.append(f"pageerror: {exc}"))

    def on_failed(req: Any) -> None:
        # ERR_ABORTED is the browser cancelling a request because the page navigated on: not a failure.
        if "ERR_ABORTED" not in (req.failure or ""):
            seen.failed_requests.append(f"failed {req.method} {req.url}: {req.failure}")

    page.on("requestfailed", on_failed)
    page.on("response", on_response)
    yield seen
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        out = ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.name)
        out.mkdir(parents=True, exist_ok=True)
        try:
            page.screenshot(path=str(out / "screenshot.png"), full_page=True)
        except Exception as exc:  # noqa: BLE001 (the page may be gone; the log still matters)
            seen.console.append(f"(no screenshot: {exc})")
        (out / "console.log").write_text(
            "\n".join([*seen.console, "--- failed requests", *seen.failed_requests, "--- url", page.url])
        )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
    report = yield
    if report.when == "call":
        item.rep_call = report  # type: ignore[attr-defined]
    return report
