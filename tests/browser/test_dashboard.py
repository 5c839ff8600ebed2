"""The dashboard in a real Chromium against `walletsync demo`: sign-in, pages, charts, live sync."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Demo, PageWatch

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

CHART_TIMEOUT_MS = 15_000


def sign_in(page: Page, demo: Demo, scope: str) -> None:
    page.goto(f"{demo.base_url}/web/")
    expect(page).to_have_url(f"{demo.base_url}/web/signin?next=%2Fweb%2F")
    page.get_by_label("API key").fill(demo.keys[scope])
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{demo.base_url}/web/")


def wait_chart(page: Page, selector: str) -> Any:
    chart = page.locator(selector)
    expect(chart).to_have_attribute("data-state", "ready", timeout=CHART_TIMEOUT_MS)
    return chart


def drawn_pixels(page: Page, selector: str) -> int:
    """Pixels of the chart's canvases that differ from the top-left one (the background)."""
    count: int = page.locator(selector).evaluate(
        """(el) => {
            let n = 0;
            for (const canvas of el.querySelectorAll('canvas')) {
                if (!canvas.width || !canvas.height) continue;
                const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
                for (let i = 4; i < data.length; i += 4) {
                    if (data[i + 3] && (data[i] !== data[0] || data[i + 1] !== data[1] || data[i + 2] !== data[2])) n++;
                }
            }
            return n;
        }"""
    )
    return count


def test_a_wrong_key_shows_an_error(page: Page, demo: Demo, watch: PageWatch) -> None:
    """A key that is not a walletsync key is refused on the form, with a message, and no session."""
    page.goto(f"{demo.base_url}/web/signin")
    page.get_by_label("API key").fill("wsk_not-a-real-key-at-all-0123456789")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("That API key is unknown or revoked.")
    assert not [c for c in page.context.cookies() if c["name"] == "walletsync_session"]
    page.goto(f"{demo.base_url}/web/market")
    expect(page).to_have_url(f"{demo.base_url}/web/signin?next=%2Fweb%2Fmarket")
    watch.assert_clean(allow=("401",))


def test_sign_in_and_the_portfolio_chart_draws_one_point_per_bar(
    page: Page, demo: Demo, watch: PageWatch
) -> None:
    """Signed in with a read key, the portfolio's value chart has one point per stored daily bar in
    the chosen range (counted in the candles table), and draws."""
    sign_in(page, demo, "read")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Portfolio")
    page.get_by_label("Range").select_option("30d")
    expect(page).to_have_url(f"{demo.base_url}/web/?scope=all&interval=1day&range=30d")
    chart = wait_chart(page, "#value-chart")
    start = datetime.fromisoformat(chart.get_attribute("data-from") or "")
    end = datetime.fromisoformat(chart.get_attribute("data-to") or "")
    [(bars,)] = demo.sql(
        "SELECT count(DISTINCT c.ts) FROM candles c JOIN asset_prices p USING (instrument_id) "
        "WHERE c.interval = '1day' AND c.ts BETWEEN :start AND :end",
        start=start,
        end=end,
    )
    assert 25 <= bars <= 31  # the demo stores 90 days of daily bars: a 30-day range holds about 30
    assert chart.get_attribute("data-points") == str(bars)
    assert drawn_pixels(page, "#value-chart") > 1000
    # Every demo wallet is listed with a value; the allocation tables are there.
    expect(page.locator("#wallets tbody tr")).to_have_count(6)
    expect(page.get_by_role("heading", name="By asset")).to_be_visible()
    watch.assert_clean()


def test_sign_out_ends_the_session(page: Page, demo: Demo, watch: PageWatch) -> None:
    """Signing out clears the cookie and deletes the session: the old cookie no longer works."""
    sign_in(page, demo, "read")
    cookie = next(c for c in page.context.cookies() if c["name"] == "walletsync_session")
    assert cookie["httpOnly"]
    assert cookie["sameSite"] == "Strict"
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_have_text("You are signed out.")
    assert not [c for c in page.context.cookies() if c["name"] == "walletsync_session"]
    replay = httpx.get(
        f"{demo.base_url}/web/", cookies={"walletsync_session": cookie["value"]}, follow_redirects=False
    )
    assert replay.status_code == 303
    assert replay.headers["location"].startswith("/web/signin")
    watch.assert_clean()
