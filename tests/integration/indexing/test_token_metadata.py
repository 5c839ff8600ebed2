"""Token names, symbols and decimals: Metaplex and Token-2022 on Solana, registry and CIP-68 on
Cardano, over real HTTP from the simulator, stored by the sync, shown by the API, kept fresh by the
periodic refresh.

The expected values are written out here by hand (the simulator's token list), not read from the
simulator's or the product's code: USDC and WSIM have Metaplex metadata, BONKS none (shown without a
name, its decimals from the transactions), SPTS is a Token-2022 mint with the metadata extension;
MIN has a token-registry entry, SNEK a CIP-68 datum, HOSKY nothing (its asset name stands in).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update

from walletsync.api.app import create_app
from walletsync.api.keys import create_key
from walletsync.config import Chain
from walletsync.db.engine import Database
from walletsync.db.models import assets
from walletsync.indexing.asset_refresh import AssetRefreshError, refresh_assets
from walletsync.indexing.sync import sync_wallet
from walletsync.jobs.tasks import is_retryable
from walletsync.services import Services, open_services
from walletsync.simulator.faults import FaultConfig, Outage
from walletsync.simulator.ledger import Ledger
from walletsync.simulator.server import SimulatorServer
from walletsync.wallets.repository import add_wallet

from .conftest import simulator_settings

SOLANA = {  # simulator symbol -> (name, symbol, decimals) walletsync must show
    "USDC": ("USD Coin", "USDC", 6),
    "WSIM": ("Wrapped Sim", "WSIM", 9),
    "BONKS": (None, None, 5),
}
TOKEN_2022 = ("Sim Points", "SPTS", 2)
CARDANO = {
    "MIN": ("Minswap", "MIN", 6),
    "SNEK": ("Snek", "SNEK", 0),
    "HOSKY": ("HOSKY", None, None),
}
NATIVE = {"solana": ("Solana", "SOL", 9), "cardano": ("Cardano", "ADA", 6)}


@pytest.fixture
def ledger() -> Ledger:
    return Ledger(29, solana_wallets=3, cardano_wallets=3, txs_per_wallet=(15, 30))


@pytest.fixture
def simulator(ledger: Ledger) -> Iterator[SimulatorServer]:
    with SimulatorServer(ledger) as server:
        yield server


@pytest.fixture
async def services(
    db: object, database_url: str, simulator: SimulatorServer, tmp_path: Path
) -> AsyncIterator[Services]:
    settings = simulator_settings(database_url, simulator, tmp_path / "data")
    async with open_services(settings, database_url) as opened:
        yield opened


@pytest.fixture
async def one(services: Services, database_url: str) -> AsyncIterator[Database]:
    """A database whose pool is exactly one connection: the refresh's writes all reuse it."""
    settings = services.settings.model_copy(update={"database_pool_size": 1, "database_max_overflow": 0})
    database = Database.from_settings(database_url, settings)
    yield database
    await database.dispose()


def expected(ledger: Ledger) -> dict[tuple[str, str], tuple[str | None, str | None, int | None]]:
    """(chain, asset key) -> what to show, keyed through the simulator's addresses of each token."""
    table: dict[tuple[str, str], tuple[str | None, str | None, int | None]] = {
        ("solana", "native"): NATIVE["solana"],
        ("cardano", "native"): NATIVE["cardano"],
    }
    for mint in ledger.solana.mints:
        table[("solana", mint.address)] = SOLANA[mint.symbol]
    for asset in ledger.cardano.assets:
        table[("cardano", asset.unit)] = CARDANO[asset.ticker]
    return table


async def sync_all(services: Services, ledger: Ledger) -> dict[str, int]:
    ids: dict[str, int] = {}
    for chain, addresses in ((Chain.SOLANA, ledger.solana_wallets), (Chain.CARDANO, ledger.cardano_wallets)):
        for address in addresses:
            async with services.db.write() as conn:
                wallet = await add_wallet(conn, chain=chain, address=address)
            await sync_wallet(services.db, wallet.id, adapters=services.adapters, settings=services.settings)
            ids[address] = wallet.id
    return ids


async def stored(services: Services) -> dict[tuple[str, str], tuple[str | None, str | None, int | None]]:
    async with services.db.read() as conn:
        rows = await conn.execute(
            select(assets.c.chain, assets.c.asset_key, assets.c.name, assets.c.symbol, assets.c.decimals)
        )
        return {(r.chain, r.asset_key): (r.name, r.symbol, r.decimals) for r in rows}


async def test_adapters_read_every_kind_of_metadata(services: Services, ledger: Ledger) -> None:
    solana, cardano = services.adapters.solana, services.adapters.cardano
    assert solana is not None
    assert cardano is not None
    for mint in ledger.solana.mints:
        info = await solana.mint_info(mint.address)
        assert (info.name, info.symbol, info.decimals) == SOLANA[mint.symbol]
    points = await solana.mint_info(ledger.solana.token2022_mints[0].address)
    assert (points.name, points.symbol, points.decimals) == TOKEN_2022
    assert points.metadata["source"] == "token-2022"
    for asset in ledger.cardano.assets:
        info = await cardano.asset(asset.unit)
        assert (info.name, info.symbol, info.decimals) == CARDANO[asset.ticker]


async def test_token2022_extension_wins_over_metaplex(services: Services, ledger: Ledger) -> None:
    """A Token-2022 mint with both: the mint's own extension is shown, Metaplex's is not."""
    points = ledger.solana.token2022_mints[0].address
    ledger.solana.metaplex[points] = ("Metaplex Points", "MPTS", "https://example.invalid/m.json")
    assert services.adapters.solana is not None
    info = await services.adapters.solana.mint_info(points)
    assert (info.name, info.symbol, info.decimals) == TOKEN_2022


async def test_sync_stores_metadata_and_the_api_shows_it(services: Services, ledger: Ledger) -> None:
    wallets = await sync_all(services, ledger)
    truth = expected(ledger)
    found = await stored(services)
    assert found == truth  # these wallets hold every token of the simulator (SPTS aside)

    async with services.db.write() as conn:
        key = (await create_key(conn, name="reader", scope="read")).key
    app = create_app(services=services)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client,
    ):
        shown: set[tuple[str, str]] = set()
        for address, wallet_id in wallets.items():
            body = (
                await client.get(
                    f"/v1/wallets/{wallet_id}/balances", headers={"Authorization": f"Bearer {key}"}
                )
            ).json()
            chain = body["chain"]
            for line in body["balances"]:
                assert (line["name"], line["symbol"], line["decimals"]) == truth[
                    (chain, line["asset_key"])
                ], address
                shown.add((chain, line["asset_key"]))
        assert len(shown) > 2  # tokens, not only the native coins

        # A rename reaches the (cached) API answer through the refresh and its cache invalidation.
        usdc = next(m.address for m in ledger.solana.mints if m.symbol == "USDC")
        holder = next(w for a, w in wallets.items() if a in ledger.solana_wallets)
        url = f"/v1/wallets/{holder}/balances"
        auth = {"Authorization": f"Bearer {key}"}
        before = {b["asset_key"]: b["name"] for b in (await client.get(url, headers=auth)).json()["balances"]}
        assert before[usdc] == "USD Coin"
        ledger.solana.metaplex[usdc] = ("USD Coin (renamed)", "USDC", "https://example.invalid/u.json")
        async with services.db.write() as conn:
            await conn.execute(update(assets).values(refreshed_at=datetime.now(UTC) - timedelta(days=2)))
        await refresh_assets(
            services.db,
            services.adapters,
            now=datetime.now(UTC),
            ttl=timedelta(days=1),
            limit=100,
            invalidate=services.invalidate_wallet,
        )
        after = {b["asset_key"]: b["name"] for b in (await client.get(url, headers=auth)).json()["balances"]}
        assert after[usdc] == "USD Coin (renamed)"


async def test_unreadable_metaplex_account_leaves_the_token_nameless(
    services: Services, ledger: Ledger
) -> None:
    """A metadata account whose name is longer than the program allows: no name, the sync succeeds."""
    usdc = next(m.address for m in ledger.solana.mints if m.symbol == "USDC")
    ledger.solana.metaplex[usdc] = ("N" * 40, "USDC", "https://example.invalid/usdc.json")
    await sync_all(services, ledger)
    found = await stored(services)
    if ("solana", usdc) in found:
        assert found[("solana", usdc)] == (None, None, 6)
    assert services.adapters.solana is not None
    info = await services.adapters.solana.mint_info(usdc, fresh=True)
    assert (info.name, info.symbol, info.decimals) == (None, None, 6)


async def test_refresh_picks_up_renamed_tokens(services: Services, one: Database, ledger: Ledger) -> None:
    """Twelve rounds on the one pooled connection: rename in the simulator, age the rows, refresh."""
    await sync_all(services, ledger)
    usdc = next(m for m in ledger.solana.mints if m.symbol == "USDC")
    snek_index = next(i for i, a in enumerate(ledger.cardano.assets) if a.ticker == "SNEK")
    snek = ledger.cardano.assets[snek_index].unit
    invalidated: list[int] = []

    async def invalidate(wallet_id: int) -> None:
        invalidated.append(wallet_id)

    now = datetime.now(UTC)
    for round_ in range(12):
        ledger.solana.metaplex[usdc.address] = (
            f"USD Coin r{round_}",
            "USDC",
            "https://example.invalid/u.json",
        )
        ledger.cardano.assets[snek_index] = replace(ledger.cardano.assets[snek_index], name=f"Snek r{round_}")
        async with services.db.write() as conn:
            await conn.execute(update(assets).values(refreshed_at=now - timedelta(days=2)))
        report = await refresh_assets(
            one, services.adapters, now=now, ttl=timedelta(days=1), limit=100, invalidate=invalidate
        )
        found = await stored(services)
        assert found[("solana", usdc.address)] == (f"USD Coin r{round_}", "USDC", 6)
        assert found[("cardano", snek)] == (f"Snek r{round_}", "SNEK", 0)
        assert report.changed == 2
        assert report.checked == len(found) - 2  # every token; the native coins are never fetched
    assert invalidated  # the holders' cached reads were dropped
    # Just refreshed: nothing is due for another TTL.
    again = await refresh_assets(one, services.adapters, now=now, ttl=timedelta(days=1), limit=100)
    assert again.checked == 0


async def test_refresh_takes_the_stalest_first_and_at_most_the_limit(
    services: Services, ledger: Ledger
) -> None:
    await sync_all(services, ledger)
    now = datetime.now(UTC)
    async with services.db.write() as conn:
        ids = (
            await conn.scalars(
                select(assets.c.id).where(assets.c.asset_key != "native").order_by(assets.c.id)
            )
        ).all()
        for age, asset_id in enumerate(ids):
            await conn.execute(
                update(assets)
                .where(assets.c.id == asset_id)
                .values(refreshed_at=now - timedelta(days=2, hours=age))
            )
        await conn.execute(update(assets).where(assets.c.id == ids[0]).values(refreshed_at=None))
    report = await refresh_assets(services.db, services.adapters, now=now, ttl=timedelta(days=1), limit=2)
    assert report.checked == 2
    async with services.db.read() as conn:
        fresh = set((await conn.scalars(select(assets.c.id).where(assets.c.refreshed_at == now))).all())
    assert fresh == {ids[0], ids[-1]}  # never refreshed, then the oldest


async def test_a_provider_outage_fails_the_run_after_refreshing_the_rest(
    services: Services, ledger: Ledger, simulator: SimulatorServer
) -> None:
    """Blockfrost down: every Solana token is refreshed, the Cardano ones stay due, and the run raises
    the retryable `AssetRefreshError` (the job retries, then dead-letters)."""
    await sync_all(services, ledger)
    now = datetime.now(UTC)
    old = now - timedelta(days=2)
    async with services.db.write() as conn:
        await conn.execute(update(assets).values(refreshed_at=old))
    simulator.set_faults(FaultConfig(outages=[Outage(provider="blockfrost")]))
    try:
        with pytest.raises(AssetRefreshError) as raised:
            await refresh_assets(services.db, services.adapters, now=now, ttl=timedelta(days=1), limit=100)
    finally:
        simulator.set_faults(FaultConfig())
    assert is_retryable(raised.value)
    assert set(raised.value.report.failed) == {a.unit for a in ledger.cardano.assets}
    async with services.db.read() as conn:
        rows = await conn.execute(
            select(assets.c.chain, assets.c.refreshed_at).where(assets.c.asset_key != "native")
        )
        refreshed = {(r.chain, r.refreshed_at == now) for r in rows}
    assert refreshed == {("solana", True), ("cardano", False)}
