"""The dashboard in a real Chromium against `walletsync demo`: sign-in, pages, charts, live sync."""

from __future__ import annotations

import re
import time
from datetime import datetime
from decimal import Decimal
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
    expect(page).to_have_url(f"{demo.base_url}/web/?scope=all&interval=1day&range=30d&mode=lines")
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


def test_the_demo_prints_a_one_time_sign_in_link(page: Page, demo: Demo, watch: PageWatch) -> None:
    """`walletsync demo` prints a link that signs in once (as the admin link key) and then is spent."""
    assert demo.signin_link is not None
    page.goto(demo.signin_link)
    expect(page).to_have_url(f"{demo.base_url}/web/")
    expect(page.get_by_role("link", name="Operations")).to_be_visible()  # the link's key is admin
    expect(page.locator("#wallets tbody tr")).to_have_count(6)
    wait_chart(page, "#value-chart")
    other = page.context.browser.new_context()  # type: ignore[union-attr]
    second = other.new_page()
    second.goto(demo.signin_link)
    expect(second.get_by_role("alert")).to_contain_text("unknown, already used or expired")
    other.close()
    watch.assert_clean()


def test_the_wallet_page_lists_the_same_balances_as_the_api(page: Page, demo: Demo, watch: PageWatch) -> None:
    """Every balance row of a wallet's page is what `/v1/wallets/{id}/balances` returns, no more."""
    sign_in(page, demo, "read")
    [(wallet_id, tx_count)] = demo.sql(
        "SELECT w.id, s.tx_count FROM wallets w JOIN sync_state s ON s.wallet_id = w.id "
        "WHERE w.label = 'demo-solana-1'"
    )
    page.get_by_role("link", name="demo-solana-1").click()
    expect(page).to_have_url(f"{demo.base_url}/web/wallets/{wallet_id}")
    api = httpx.get(
        f"{demo.base_url}/v1/wallets/{wallet_id}/balances",
        headers={"Authorization": f"Bearer {demo.keys['read']}"},
    )
    assert api.status_code == 200
    expected = {(b["asset_key"], b["kind"], b["amount"]) for b in api.json()["balances"]}
    assert expected
    rows = page.locator("#balance-table tbody tr")
    expect(rows).to_have_count(len(expected))
    shown = {
        (r.get_attribute("data-asset-key"), r.get_attribute("data-kind"), r.get_attribute("data-amount"))
        for r in rows.all()
    }
    assert shown == expected
    # demo-solana-1 stakes (the simulator gives the first Solana wallet two stake accounts).
    assert any(kind == "staked" for _, kind, _ in shown)
    # Transactions: the first page of 25, newest first, and a link to older ones.
    assert tx_count > 25
    expect(page.locator("#tx-table tbody tr")).to_have_count(25)
    page.get_by_role("link", name="Older").click()
    expect(page.locator("#tx-table tbody tr")).to_have_count(min(25, tx_count - 25))
    watch.assert_clean()


def test_the_candlestick_chart_draws_the_stored_bars(page: Page, demo: Demo, watch: PageWatch) -> None:
    """The market terminal charts every stored bar of the chosen series, with the last close."""
    sign_in(page, demo, "read")
    page.get_by_role("link", name="Market").click()
    chart = wait_chart(page, "#candle-chart")
    symbol = page.get_by_label("Symbol").input_value()
    interval = page.get_by_label("Interval").input_value()
    [(bars, last_close)] = demo.sql(
        "SELECT count(*), (array_agg(c.close ORDER BY c.ts DESC))[1] FROM candles c "
        "JOIN instruments i ON i.id = c.instrument_id WHERE i.symbol = :symbol AND c.interval = :interval",
        symbol=symbol,
        interval=interval,
    )
    assert bars > 50
    assert chart.get_attribute("data-bars") == str(min(bars, 2000))
    assert drawn_pixels(page, "#candle-chart") > 1000
    shown = (page.locator("#last-price").text_content() or "").split()[0].replace(",", "")
    assert Decimal(shown) == Decimal(last_close).quantize(Decimal(shown))  # the close, rounded as shown
    # The catalog search answers as one types.
    page.get_by_label("Search instruments and exchanges").fill(symbol.split("/")[0])
    expect(page.locator("#search-results li").first).to_contain_text(symbol.split("/")[0])
    watch.assert_clean()


def test_sync_now_is_refused_with_a_read_key(page: Page, demo: Demo, watch: PageWatch) -> None:
    """A read key sees why it cannot sync; the server refuses the action too, with the same reason."""
    sign_in(page, demo, "read")
    [(wallet_id,)] = demo.sql("SELECT id FROM wallets WHERE label = 'demo-cardano-1'")
    page.goto(f"{demo.base_url}/web/wallets/{wallet_id}")
    button = page.get_by_role("button", name="Sync now")
    expect(button).to_be_disabled()
    expect(page.locator("#sync-refused")).to_contain_text("needs a key with the write scope")
    csrf = page.locator("input[name=csrf_token]").first.get_attribute("value")
    refused = page.request.post(
        f"{demo.base_url}/web/wallets/{wallet_id}/sync", form={"csrf_token": csrf or ""}
    )
    assert refused.status == 403
    assert "needs a key with the write scope" in refused.text()
    [(jobs,)] = demo.sql(
        "SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'sync_wallet' AND args->>'wallet_id' = :id "
        "AND status = 'todo'",
        id=str(wallet_id),
    )
    assert jobs == 0
    watch.assert_clean(allow=("403",))


def test_sync_now_shows_progress_then_the_new_transactions(page: Page, demo: Demo, watch: PageWatch) -> None:
    """With a write key, "Sync now" on a wallet never synced shows the job's progress, then its
    transactions (those the sync stored, at most as many as the simulator's ledger lists for the
    address) without a page reload."""
    from tests.browser.conftest import DEMO_SEED, DEMO_WALLETS_PER_CHAIN, run_async
    from walletsync.config import Chain
    from walletsync.simulator.ledger import Ledger

    ledger = Ledger(DEMO_SEED, solana_wallets=DEMO_WALLETS_PER_CHAIN, cardano_wallets=DEMO_WALLETS_PER_CHAIN)
    tracked = set(ledger.cardano_wallets)
    address = next(a for a in ledger.cardano.address_index if a not in tracked and a.startswith("addr1q"))
    on_chain = len(ledger.wallet_tx_ids(Chain.CARDANO, address))
    assert 0 < on_chain <= 25
    wallet_id = run_async(demo.add_wallet(Chain.CARDANO, address, "browser-new"))

    sign_in(page, demo, "write")
    page.goto(f"{demo.base_url}/web/wallets/{wallet_id}")
    expect(page.locator("#no-txs")).to_be_visible()
    page.evaluate(
        """() => {
            window.__notReloaded = true;
            window.__statuses = [];
            new MutationObserver(() => {
                const el = document.getElementById('sync-status');
                if (el) window.__statuses.push(el.textContent.trim().replace(/\\s+/g, ' '));
            }).observe(document.body, {subtree: true, childList: true, characterData: true});
        }"""
    )
    page.get_by_role("button", name="Sync now").click()
    expect(page.locator("#sync-status")).to_contain_text("Synced:", timeout=30_000)
    [(stored,)] = demo.sql("SELECT count(*) FROM wallet_transactions WHERE wallet_id = :id", id=wallet_id)
    assert 0 < stored <= on_chain
    expect(page.locator("#sync-status")).to_contain_text(f"Synced: {stored} transactions.")
    expect(page.locator("#tx-table tbody tr")).to_have_count(stored, timeout=10_000)
    assert page.evaluate("window.__notReloaded") is True
    statuses: list[str] = page.evaluate("window.__statuses")
    assert any(s.startswith(("Sync queued", "Syncing")) for s in statuses), statuses
    expect(page.locator("#balance-table tbody tr").first).to_be_visible()
    watch.assert_clean()


PAGES = [
    "/web/",
    "/web/wallets/{wallet_id}",
    "/web/market",
    "/web/market?q=USD",
    "/web/leaderboards",
    "/web/operations",
]


@pytest.mark.parametrize("width", [360, 1280])
def test_every_page_is_clean_at_phone_and_desktop_width(
    page: Page, demo: Demo, watch: PageWatch, width: int
) -> None:
    """Every page, signed in as admin, loads with no console error and no failed request, draws its
    charts, and fits the width (no sideways scrolling of the page itself at 360 px)."""
    page.set_viewport_size({"width": width, "height": 800})
    sign_in(page, demo, "admin")
    [(wallet_id,)] = demo.sql("SELECT id FROM wallets WHERE label = 'demo-solana-2'")
    for path in PAGES:
        page.goto(demo.base_url + path.format(wallet_id=wallet_id))
        expect(page.locator("h1")).to_be_visible()
        for chart in page.locator("[data-chart]").all():
            expect(chart).to_have_attribute("data-state", "ready", timeout=CHART_TIMEOUT_MS)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at {width}px"
    # Keyboard: the first Tab reaches the skip link, which moves focus to the content.
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    watch.assert_clean()


def test_the_portfolio_updates_itself_after_a_sync(page: Page, demo: Demo, watch: PageWatch) -> None:
    """A wallet's sync stores transactions while the portfolio is open: the page notices (the event
    stream tells it to re-read the sync states) and redraws its wallets and chart without a reload."""
    [(count_before,)] = demo.sql("SELECT count(*) FROM wallets")
    sign_in(page, demo, "write")
    wait_chart(page, "#value-chart")
    expect(page.locator("#portfolio-poll")).to_have_attribute(
        "hx-get", re.compile(r"seen=\d"), timeout=10_000
    )
    page.evaluate("window.__notReloaded = true")
    rows = page.locator("#wallets tbody tr")
    expect(rows).to_have_count(count_before)
    page.locator("#value-chart").evaluate("(el) => { el.dataset.old = 'yes'; }")
    expect(page.locator("body")).to_have_attribute("data-live", "open", timeout=15_000)
    # Another client changes the facts as a worker's sync would: a sync state moves, and an event
    # goes to the outbox in the same transaction (the relay publishes it to the page's stream).
    demo.sql(
        "WITH moved AS (UPDATE sync_state SET updated_at = now() "
        "WHERE wallet_id = (SELECT min(wallet_id) FROM sync_state) RETURNING wallet_id) "
        "INSERT INTO outbox (topic, payload) SELECT 'sync.failed', jsonb_build_object('wallet_id', w.id, "
        "'chain', w.chain, 'address', w.address, 'error', 'browser test') FROM wallets w JOIN moved ON w.id = moved.wallet_id"
    )
    # The body is swapped for a fresh one (without the mark), whose chart draws again.
    expect(page.locator("#value-chart")).not_to_have_attribute("data-old", "yes", timeout=20_000)
    wait_chart(page, "#value-chart")
    assert page.evaluate("window.__notReloaded") is True
    watch.assert_clean()


def test_the_wallet_page_shows_a_new_sync_through_the_event_stream_without_polling(
    page: Page, demo: Demo, watch: PageWatch
) -> None:
    """The wallet page opens the event stream with its session cookie (a read key) and, while it is
    open, polls nothing: a sync another client queues after the page loaded shows its transactions
    without a reload, and no status request was made before the stream brought the news."""
    from tests.browser.conftest import DEMO_SEED, DEMO_WALLETS_PER_CHAIN, run_async
    from walletsync.config import Chain
    from walletsync.simulator.ledger import Ledger

    ledger = Ledger(DEMO_SEED, solana_wallets=DEMO_WALLETS_PER_CHAIN, cardano_wallets=DEMO_WALLETS_PER_CHAIN)
    tracked = {row[0] for row in demo.sql("SELECT address FROM wallets")}
    address = next(
        a
        for a in ledger.cardano.address_index
        if a not in tracked
        and a.startswith("addr1q")
        and 0 < len(ledger.wallet_tx_ids(Chain.CARDANO, a)) <= 25
    )
    wallet_id = run_async(demo.add_wallet(Chain.CARDANO, address, "browser-live"))

    sign_in(page, demo, "read")
    requests: list[tuple[float, str]] = []
    page.on("request", lambda request: requests.append((time.monotonic(), request.url)))
    page.goto(f"{demo.base_url}/web/wallets/{wallet_id}")
    expect(page.locator("#no-txs")).to_be_visible()
    expect(page.locator("body")).to_have_attribute("data-live", "open", timeout=15_000)
    page.evaluate("window.__notReloaded = true")
    page.wait_for_timeout(5_000)  # a polling page asks for its status after 2 s, then 4 s
    assert [url for _, url in requests if "/sync-status" in url] == []

    queued = httpx.post(
        f"{demo.base_url}/v1/wallets/{wallet_id}/sync",
        headers={"Authorization": f"Bearer {demo.keys['write']}"},
        timeout=10,
    )
    assert queued.status_code == 202, queued.text
    expect(page.locator("#tx-table tbody tr").first).to_be_visible(timeout=30_000)
    [(stored,)] = demo.sql("SELECT count(*) FROM wallet_transactions WHERE wallet_id = :id", id=wallet_id)
    expect(page.locator("#tx-table tbody tr")).to_have_count(stored, timeout=10_000)
    assert page.evaluate("window.__notReloaded") is True
    assert int(page.locator("body").get_attribute("data-live-events") or "0") >= 1
    assert len([url for _, url in requests if "/v1/events/stream" in url]) == 1
    assert page.locator("body").get_attribute("data-live") == "open"
    watch.assert_clean()
